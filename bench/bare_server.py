"""The bare grpc.aio ceiling's server: a grpc.aio server hosting only the standard health service —
no interceptor, no database, no NATS — on uvloop, as `learnflow serve` runs.

    .venv/bin/python -m bench.bare_server        # prints its port on stdout, serves until stdin closes

Started by `bench.common.BareCeiling` in a process of its own, so it pays for its own interpreter and
event loop just as `learnflow serve` does; whatever a health Check against it costs is what grpc.aio,
protobuf and the loop cost on this machine right now. Every benchmark figure is printed as a ratio of
it, since absolute figures move from machine to machine and with other work on the same cores.
"""

from __future__ import annotations

import asyncio
import sys

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc


async def serve() -> None:
    # The same server options as services/runtime/server.py, less the interceptor.
    server = grpc.aio.server(
        options=[("grpc.so_reuseport", 1), ("grpc.max_receive_message_length", 8 * 1024 * 1024)]
    )
    servicer = health.HealthServicer(experimental_non_blocking=True)
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    if port == 0:
        raise RuntimeError("could not listen on a free port")
    await server.start()
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    # Serve until the parent closes our stdin (it also does when it dies), then stop at once.
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    await server.stop(None)


def main() -> int:
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
