"""The `learnflow` command.

learnflow up                 the whole mesh on embedded defaults (Postgres, NATS, every context, Envoy)
learnflow serve              serve contexts on one gRPC port (what a pod runs)
learnflow migrate            run the migrations of the selected contexts and exit
learnflow settings           every setting of the runtime and of every context: default and meaning
learnflow new-context NAME   write a new bounded context in the standard shape (docs/recipes.md)
learnflow login / users / tenants / classes
                             talk to a running mesh with the typed SDK (each has --help)
learnflow dead-letters list / dead-jobs list
                             what the runtime gave up on (operators, admins)

The client commands find the mesh by --addr, else LEARNFLOW_ADDR, else 127.0.0.1:$LEARNFLOW_GRPC_PORT
(the port `learnflow up` listens on), and report a failure as one line on stderr with exit code 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from services.runtime.settings import SettingsError

# gRPC's fork handlers start a polling thread in a forked child; when the child then closes its
# descriptors and execs (subprocess with a preexec_fn: the sandbox's development path), that thread can
# hit a closed epoll descriptor and abort the child (grpc/grpc#43055; 10 of 1,000 forks here with
# gRPC busy, 0 with this). No learnflow process uses gRPC in a forked child, so the handlers are off.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")


def _run(coro: object) -> None:
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:  # pragma: no cover (uvloop is a dependency on Linux)
        runner = asyncio.Runner()
    with runner:
        runner.run(coro)  # type: ignore[arg-type]


def cmd_serve(args: argparse.Namespace) -> int:
    from services.runtime import server, settings

    _run(server.serve(settings.load(contexts=args.contexts)))
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from services.runtime import logs, migrations, settings
    from services.runtime.contexts import load_contexts

    s = settings.load(contexts=args.contexts)
    logs.configure(s.log_level)
    migrations.run(
        s.migration_database_url, migrations.app_role_of(s.database_url), load_contexts(s.contexts)
    )
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    """Lists the declared settings (never a value: defaults only, and no secret's)."""
    from services.runtime import settings

    sys.stdout.write(settings.describe(settings.catalogue(), args.format))
    return 0


def cmd_new_context(args: argparse.Namespace) -> int:
    from services.runtime import scaffold

    return scaffold.main(args.name, dry_run=args.dry_run)


def cmd_up(args: argparse.Namespace) -> int:
    from services.runtime import logs
    from services.runtime.local.demo import DemoSeedError
    from services.runtime.local.mesh import LocalMesh, ports_from_env

    logs.configure(os.environ.get("LOG_LEVEL", "INFO"))
    env = os.environ
    mesh = LocalMesh(
        Path(env.get("LEARNFLOW_DATA_DIR", ".data")).resolve(), ports_from_env(env), with_monitoring=True
    )
    mesh.temporal_ui_port = int(env.get("LEARNFLOW_TEMPORAL_UI_PORT", "8233") or 0)
    # serve's log to the terminal and to .data/serve.log, where `learnflow logs` finds it.
    mesh.serve_tee = mesh.data_dir / "serve.log"
    stop = {"requested": False}

    def request_stop(*_: object) -> None:
        stop["requested"] = True

    signal.signal(signal.SIGTERM, request_stop)
    try:
        took = mesh.start()
        _banner(mesh, took)
        signal.signal(signal.SIGINT, request_stop)
        while not stop["requested"]:
            children = {
                "learnflow serve": mesh.server,
                "envoy": mesh.envoy.proc if mesh.envoy else None,
                "nats-server": mesh.nats.proc if mesh.nats else None,
                "local providers": mesh.providers.proc if mesh.providers else None,
                "console": mesh.console,
            }
            for name, proc in children.items():
                if proc is not None and proc.poll() is not None:
                    sys.stderr.write(f"{name} exited with status {proc.returncode}; stopping the mesh\n")
                    stop["requested"] = True
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    except DemoSeedError as exc:
        sys.stderr.write(f"learnflow: {exc}\n")
        return 1
    finally:
        sys.stderr.write("stopping the mesh...\n")
        mesh.stop()
        sys.stderr.write("stopped; data kept in " + str(mesh.data_dir) + "\n")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    from services.runtime.local.logsearch import search

    root = Path(args.data_dir or os.environ.get("LEARNFLOW_DATA_DIR", ".data")).resolve()
    found = search(root, args.correlation_id)
    sys.stdout.write("".join(line + "\n" for line in found))
    if not found:
        sys.stderr.write(f"no line under {root} names {args.correlation_id}\n")
    return 0 if found else 1


def _banner(mesh: object, took: float) -> None:
    from services.runtime.local import alerting
    from services.runtime.local.mesh import LocalMesh

    assert isinstance(mesh, LocalMesh)
    demo = ""
    if mesh.embedded:
        demo = (
            "  demo tenant 'demo': admin@, teacher@, student@, operator@, facilitator@demo.test"
            " (password learnflow-demo)\n"
            "  demo class 'Demo Class': teacher@demo.test teaches student@demo.test\n"
        )
    providers = ""
    if mesh.providers:
        providers = (
            f"  provider inbox:      {mesh.providers.url}/  (local Moodle, Zulip, Slack, PagerDuty; "
            f"SMTP on 127.0.0.1:{mesh.ports.providers_smtp}; `learnflow providers inbox`)\n"
        )
    console = ""
    if mesh.console is not None:
        console = f"  web console:         {mesh.console_url}  (sign in as a demo user below)\n"
    temporal = ""
    if mesh.temporal is not None and mesh.temporal.ui_url:
        temporal = f"  Temporal UI:         {mesh.temporal.ui_url} (workflow runs)\n"
    sys.stdout.write(
        f"\nLearnFlow mesh ready in {took:.1f}s\n"
        f"{console}"
        f"  REST (Envoy, JWT):   {mesh.rest_url}\n"
        f"  gRPC (Envoy):        127.0.0.1:{mesh.ports.http}\n"
        f"  gRPC (mesh, direct): {mesh.grpc_addr}\n"
        f"  metrics:             http://127.0.0.1:{mesh.ports.metrics}/metrics\n"
        f"{providers}"
        f"{alerting.banner(mesh.monitoring)}"
        f"{temporal}"
        f"{demo}"
        "Try:\n"
        f"  curl -s {mesh.rest_url}/v1/auth:login --json "
        '\'{"tenant":"demo","email":"teacher@demo.test","password":"learnflow-demo"}\'\n'
        f"  .venv/bin/grpcurl -plaintext {mesh.grpc_addr} list\n"
        f"Ctrl-C stops everything; data stays in {mesh.data_dir}/\n\n"
    )
    sys.stdout.flush()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="learnflow", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve bounded contexts on one gRPC port")
    serve.add_argument(
        "--contexts", default=None, help="'all' or a comma list (default: LEARNFLOW_CONTEXTS, else all)"
    )
    serve.set_defaults(func=cmd_serve)
    migrate = sub.add_parser("migrate", help="run the selected contexts' migrations and exit")
    migrate.add_argument("--contexts", default=None, help="'all' or a comma list")
    migrate.set_defaults(func=cmd_migrate)
    listing = sub.add_parser("settings", help="list every setting with its default and meaning")
    listing.add_argument(
        "--format", choices=("text", "markdown"), default="text", help="markdown: docs/settings.md"
    )
    listing.set_defaults(func=cmd_settings)
    new_context = sub.add_parser(
        "new-context",
        help="write a new context: protos, services/<name>/, its first migration and tests",
    )
    new_context.add_argument("name", help="2-30 lowercase letters and digits, starting with a letter")
    new_context.add_argument("--dry-run", action="store_true", help="list the files; write nothing")
    new_context.set_defaults(func=cmd_new_context)
    up = sub.add_parser("up", help="run the whole mesh locally on embedded defaults (Ctrl-C stops it)")
    up.set_defaults(func=cmd_up)
    logs_cmd = sub.add_parser("logs", help="every log line of one request across the local mesh's processes")
    logs_cmd.add_argument(
        "--correlation-id", required=True, help="the request's x-request-id / correlation id"
    )
    logs_cmd.add_argument(
        "--data-dir", default=None, help="the mesh's data directory (LEARNFLOW_DATA_DIR, .data)"
    )
    logs_cmd.set_defaults(func=cmd_logs)
    _add_ops_commands(sub)
    from services.runtime import console

    console.add_commands(sub)
    # Each context may contribute operator commands in services/<context>/cli.py: add_commands(sub).
    import importlib

    from services.runtime.contexts import available_contexts

    for name in available_contexts():
        try:
            module = importlib.import_module(f"services.{name}.cli")
        except ModuleNotFoundError:
            continue
        module.add_commands(sub)
    return p


# --- ops: the runtime's dead letters and dead jobs (OperationsService, proto/learnflow/ops/v1) ------


async def _dead_letters(args: argparse.Namespace) -> object:
    from learnflow_sdk.learnflow.ops.v1 import ListDeadLettersRequest, OperationsServiceStub

    from services.runtime.cli_client import channel, metadata

    ch = channel(args.addr)
    try:
        reply = await OperationsServiceStub(ch, metadata=metadata()).list_dead_letters(
            ListDeadLettersRequest(context=args.context, page_size=args.page_size, page_token=args.page_token)
        )
        return reply.to_dict(include_default_values=True)  # an empty list prints as []
    finally:
        ch.close()


async def _dead_jobs(args: argparse.Namespace) -> object:
    from learnflow_sdk.learnflow.ops.v1 import ListDeadJobsRequest, OperationsServiceStub

    from services.runtime.cli_client import channel, metadata

    ch = channel(args.addr)
    try:
        reply = await OperationsServiceStub(ch, metadata=metadata()).list_dead_jobs(
            ListDeadJobsRequest(context=args.context, page_size=args.page_size, page_token=args.page_token)
        )
        return reply.to_dict(include_default_values=True)  # an empty list prints as []
    finally:
        ch.close()


def _add_ops_commands(sub: argparse._SubParsersAction) -> None:
    from services.runtime.cli_client import add_addr_argument, client_command

    for name, what, func in (
        ("dead-letters", "events a consumer gave up on", _dead_letters),
        ("dead-jobs", "durable jobs that will not run again", _dead_jobs),
    ):
        group = sub.add_parser(
            name,
            help=f"list {what} (operators, admins)",
            description=f"Lists {what}, oldest first, as the logged-in operator or admin "
            "(`learnflow login`). Redrive one through the REST API or grpcurl (OperationsService).",
        )
        add_addr_argument(group)
        group_sub = group.add_subparsers(dest=f"{name}_command", required=True, metavar="{list}")
        lst = group_sub.add_parser("list", help=f"list {what}")
        lst.add_argument("--context", default="", help="only this context's (default: every context)")
        lst.add_argument("--page-size", type=int, default=50, help="1-1000 (default %(default)s)")
        lst.add_argument("--page-token", default="", help="next_page_token of the previous page")
        add_addr_argument(lst)
        group.set_defaults(func=client_command(func))


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SettingsError as exc:
        sys.stderr.write(f"learnflow: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
