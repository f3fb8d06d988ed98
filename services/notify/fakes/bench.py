"""How fast one channel sends to the local provider servers run as their own process, and what each
side costs in CPU (so a bench of the delivery engine knows the fakes are not its bottleneck):

    .venv/bin/python -m services.notify.fakes.bench slack --sends 2000 --concurrency 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from services.notify.channels.base import Outgoing
from services.notify.channels.registry import build_channels
from services.notify.channels.settings import ChannelSettings
from services.runtime.local.procs import free_port
from services.runtime.settings import read

USER = "bench@learnflow.test"


async def _send_all(channel_name: str, env: dict[str, str], sends: int, concurrency: int) -> list[float]:
    channel = build_channels(read(ChannelSettings, env))[channel_name]
    address = await channel.resolve(USER)
    assert address is not None, f"{USER} has no {channel_name} account on the local servers"
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(i: int) -> None:
        async with gate:
            began = time.perf_counter()
            await channel.send(Outgoing(uuid.uuid4(), uuid.uuid4(), address, "bench", f"<p>message {i}</p>"))
            latencies.append(time.perf_counter() - began)

    try:
        await asyncio.gather(*(one(i) for i in range(sends)))
    finally:
        await channel.aclose()
    return sorted(latencies)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m services.notify.fakes.bench", description=__doc__)
    p.add_argument("channel", choices=("moodle", "zulip", "slack", "pagerduty", "email"))
    p.add_argument("--sends", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=50)
    args = p.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="notify-fakes-bench-"))
    env_file = folder / "channels.json"
    argv_ = [sys.executable, "-m", "services.notify.fakes", "--http-port", str(free_port()), "--smtp-port",
             str(free_port()), "--users", USER, "--env-file", str(env_file)]  # fmt: skip
    proc = subprocess.Popen(argv_, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not env_file.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.stderr.write("the local provider servers did not start\n")
                return 1
            time.sleep(0.05)
        env = {**json.loads(env_file.read_text()), "NOTIFY_CHANNEL_INLINE_ATTEMPTS": "1"}
        cpu_before = _own_cpu()
        began = time.perf_counter()
        latencies = asyncio.run(_send_all(args.channel, env, args.sends, args.concurrency))
        took = time.perf_counter() - began
        client_cpu = _own_cpu() - cpu_before
        fields = Path(f"/proc/{proc.pid}/stat").read_text().split()
        server_cpu = (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(folder, ignore_errors=True)
    n = len(latencies)
    sys.stdout.write(
        f"{args.channel}: {n} sends, {args.concurrency} at once: {n / took:.0f}/s; "
        f"latency p50 {latencies[n // 2] * 1000:.1f} ms, p95 {latencies[int(n * 0.95)] * 1000:.1f} ms; "
        f"CPU per send: channel {client_cpu / n * 1000:.2f} ms, local server {server_cpu / n * 1000:.2f} ms\n"
    )
    return 0


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    sys.exit(main())
