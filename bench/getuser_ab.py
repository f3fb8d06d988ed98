"""GetUser on two versions of the code at once: old against new, in the same seconds.

    git archive <commit> | tar -x -C /tmp/old        # the code to compare with, as a plain tree
    .venv/bin/python -m bench.getuser_ab --old /tmp/old [--rounds 10] [--slice 2]

On a shared machine the load moves from minute to minute, so two runs of `bench.getuser` one after
the other (old, then new) compare two different machines. Here both meshes run at the same time (this
tree's code and the `--old` tree's, each `learnflow serve` importing its own `services`), and GetUser
at c=32 is driven against old, new and the bare ceiling in turn, in short slices whose order rotates
each round. Printed per round and as medians: throughput, the serving side's CPU per request
(`learnflow serve` + PostgreSQL), the load generator's, and the two shares of the bare ceiling
(throughput and CPU-bound, as in bench/common.py). Both meshes run the readiness check at its deployed
2 s interval.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
from learnflow.auth.v1 import auth_pb2
from learnflow.identity.v1 import identity_service_pb2 as pb
from learnflow.identity.v1 import identity_service_pb2_grpc as pb_grpc

from bench.common import BareCeiling, closed_loop, cpu_seconds, mesh_pids
from bench.common import run as bench_run
from services.runtime.settings import Settings
from services.runtime.testing import bearer, login, mesh_dir, new_mesh

HERE = Path(__file__).resolve().parent.parent
Call = Callable[[int], Callable[[], Awaitable[bool]]]
# One slice: throughput, serving CPU per request (us), client CPU per request (us).
Slice = tuple[float, float, float]


async def _getuser(mesh: Any, channel: grpc.aio.Channel) -> Call:
    token = login(mesh, "teacher@demo.test")
    stub = pb_grpc.IdentityServiceStub(channel)
    students = await stub.ListUsers(
        pb.ListUsersRequest(role=auth_pb2.ROLE_STUDENT, page_size=1), metadata=bearer(token)
    )
    user_id = students.users[0].id
    request, metadata = pb.GetUserRequest(user_id=user_id), bearer(token)

    def make(_: int) -> Callable[[], Awaitable[bool]]:
        async def call() -> bool:
            reply = await stub.GetUser(request, metadata=metadata, timeout=10)
            return bool(reply.id == user_id)

        return call

    return make


async def _slice(call: Call, pids: list[int], concurrency: int, seconds: float) -> Slice:
    await closed_loop(call, concurrency, 0.3, warmup=0.0)  # settle before counting CPU
    server, client = cpu_seconds(pids), time.process_time()
    latencies, errors, elapsed = await closed_loop(call, concurrency, seconds, warmup=0.0)
    n = max(1, len(latencies) + errors)
    used = cpu_seconds(pids) - server
    return n / elapsed, used / n * 1e6, (time.process_time() - client) / n * 1e6


async def measure(meshes: dict[str, Any], rounds: int, seconds: float, concurrency: int) -> None:
    got: dict[str, list[Slice]] = {"old": [], "new": [], "bare": []}
    async with BareCeiling() as bare:
        channels = {k: grpc.aio.insecure_channel(m.grpc_addr) for k, m in meshes.items()}
        try:
            calls: dict[str, Call] = {k: await _getuser(meshes[k], channels[k]) for k in meshes}
            calls["bare"] = bare.call
            pids = {k: mesh_pids(m) for k, m in meshes.items()} | {"bare": bare.pids}
            order = ["old", "new", "bare"]
            for r in range(rounds):
                turn = order[r % 3 :] + order[: r % 3]
                for name in reversed(turn) if r % 2 else turn:
                    got[name].append(await _slice(calls[name], pids[name], concurrency, seconds))
                line = "  ".join(
                    f"{k} {got[k][-1][0]:.0f}/s serve {got[k][-1][1]:.0f} us client {got[k][-1][2]:.0f} us"
                    for k in order
                )
                sys.stdout.write(f"round {r + 1}: {line}  (load {os.getloadavg()[0]:.1f})\n")
                sys.stdout.flush()
        finally:
            for channel in channels.values():
                await channel.close()
    b = got["bare"]
    for name in ("old", "new"):
        mine = got[name]
        share = [mine[i][0] / b[i][0] for i in range(rounds)]
        cpu_share = [(b[i][1] + b[i][2]) / (mine[i][1] + mine[i][2]) for i in range(rounds)]
        sys.stdout.write(
            f"{name}: median {statistics.median(s[0] for s in mine):.0f}/s, serve + PostgreSQL "
            f"{statistics.median(s[1] for s in mine):.0f} us/req, client "
            f"{statistics.median(s[2] for s in mine):.0f} us/req; share of bare/s "
            f"{statistics.median(share):.0%}, CPU-bound share {statistics.median(cpu_share):.0%}\n"
        )
    sys.stdout.write(
        f"bare: median {statistics.median(s[0] for s in b):.0f}/s, server "
        f"{statistics.median(s[1] for s in b):.0f} us/req, client "
        f"{statistics.median(s[2] for s in b):.0f} us/req\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--old", type=Path, required=True, help="a tree of the code to compare with")
    parser.add_argument("--rounds", type=int, default=10, help="rounds of old, new and bare (default 10)")
    parser.add_argument("--slice", type=float, default=2.0, help="seconds per slice (default 2)")
    parser.add_argument("--concurrency", type=int, default=32, help="GetUser calls in flight (default 32)")
    args = parser.parse_args()
    if not (args.old / "services" / "runtime" / "cli.py").is_file():
        parser.error(f"{args.old} does not hold a LearnFlow tree (services/runtime/cli.py)")
    # `python -m` puts the working directory first on sys.path, ahead of PYTHONPATH: from a neutral
    # one, each `learnflow serve` imports `services` from the tree its PYTHONPATH names.
    scratch = Path(tempfile.mkdtemp(prefix="learnflow-ab-"))
    os.chdir(scratch)
    interval = str(Settings().health_interval)
    trees = {"old": args.old.resolve(), "new": HERE}
    meshes: dict[str, Any] = {}
    roots = [scratch]
    try:
        for name, tree in trees.items():
            sys.stderr.write(f"starting the {name} mesh ({tree})...\n")
            roots.append(mesh_dir(f"learnflow-ab-{name}-"))
            meshes[name] = new_mesh(
                roots[-1],
                LOG_LEVEL="WARNING",
                LEARNFLOW_HEALTH_INTERVAL_SECONDS=interval,
                PYTHONPATH=str(tree),
            )
            meshes[name].start()
        bench_run(measure(meshes, args.rounds, args.slice, args.concurrency))
    finally:
        for mesh in meshes.values():
            mesh.stop()
        os.chdir(HERE)
        for root in roots:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
