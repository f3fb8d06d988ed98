"""What every `learnflow` command that talks to a running mesh shares: where the mesh is, the saved
token, and failures reported as one line on stderr with a non-zero exit code (never a traceback).

Where: --addr, else LEARNFLOW_ADDR, else 127.0.0.1:$LEARNFLOW_GRPC_PORT — the variable `learnflow up`
listens by (services/runtime/local/mesh.py), so a shell that started a second mesh on other ports
reaches that mesh with the same variables.

Contexts add their commands in services/<context>/cli.py (add_commands) with `client_command`,
which resolves the address, runs the coroutine and prints its result as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from google.rpc import error_details_pb2
from grpclib.client import Channel
from grpclib.encoding.proto import ProtoStatusDetailsCodec
from grpclib.exceptions import GRPCError, ProtocolError, StreamTerminatedError

from services.runtime.local.mesh import ports_from_env
from services.runtime.settings import SettingsError

CALL_TIMEOUT_SECONDS = 30.0
ADDR_HELP = (
    "gRPC address of the mesh, host:port (default: $LEARNFLOW_ADDR, else "
    "127.0.0.1:$LEARNFLOW_GRPC_PORT as `learnflow up` uses, else 127.0.0.1:50051)"
)


class CliError(Exception):
    """A failure the user can act on; its message is printed as is after `learnflow: `."""


def default_addr(env: Mapping[str, str] = os.environ) -> str:
    if env.get("LEARNFLOW_ADDR", "").strip():
        return env["LEARNFLOW_ADDR"].strip()
    return f"127.0.0.1:{ports_from_env(env).grpc}"


def add_addr_argument(parser: argparse.ArgumentParser) -> None:
    """--addr on a command and on each of its subcommands: `users --addr X list` and `users list
    --addr X` both work (SUPPRESS: a subcommand's unset option does not hide its parent's)."""
    parser.add_argument("--addr", default=argparse.SUPPRESS, help=ADDR_HELP)


def resolve_addr(args: argparse.Namespace) -> str:
    addr = str(getattr(args, "addr", "") or default_addr())
    host, _, port = addr.rpartition(":")
    if not host or not port.isdigit():
        raise CliError(f"--addr/LEARNFLOW_ADDR {addr!r}: expected host:port")
    return addr


def channel(addr: str) -> Channel:
    """A grpclib channel that decodes google.rpc.Status details (field violations, ErrorInfo)."""
    host, _, port = addr.rpartition(":")
    return Channel(host, int(port), status_details_codec=ProtoStatusDetailsCodec())


def token_file() -> Path:
    return Path(os.environ.get("LEARNFLOW_TOKEN_FILE", Path.home() / ".config" / "learnflow" / "token"))


def save_token(token: str) -> None:
    path = token_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)  # before the token is in it
    path.write_text(token)


def metadata() -> dict[str, str]:
    """The saved access token as call metadata."""
    path = token_file()
    if not path.exists():
        raise CliError(f"not logged in (no token in {path}): run `learnflow login --email ...` first")
    return {"authorization": "Bearer " + path.read_text().strip()}


def password_from(variable: str, prompt: str) -> str:
    """A password from an environment variable, else typed at a prompt: never from the command line,
    where other users of the machine read it in the process list and it stays in the shell history."""
    value = os.environ.get(variable) or getpass.getpass(prompt)
    if not value:
        raise CliError(f"no password: set {variable} or type one at the prompt")
    return value


def describe_grpc_error(exc: GRPCError) -> str:
    """`CODE: message (field: why; field: why) [REASON]`, on one line."""
    line = f"{exc.status.name}: {exc.message or 'no message'}"
    violations, reasons = [], []
    for detail in exc.details or ():
        if isinstance(detail, error_details_pb2.BadRequest):
            violations += [f"{v.field}: {v.description}" for v in detail.field_violations]
        elif isinstance(detail, error_details_pb2.ErrorInfo) and detail.reason not in ("", exc.status.name):
            reasons.append(detail.reason)
    if violations:
        line += " (" + "; ".join(violations) + ")"
    if reasons:
        line += " [" + ", ".join(reasons) + "]"
    if exc.status.name == "UNAUTHENTICATED" and "INVALID_CREDENTIALS" not in reasons:  # an expired token
        line += "; log in again with `learnflow login`"
    return " ".join(line.split())  # one line, whatever the server's message holds


def print_result(result: Any) -> None:
    sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")


def client_command(
    func: Callable[[argparse.Namespace], Awaitable[Any]],
) -> Callable[[argparse.Namespace], int]:
    """An argparse handler: sets args.addr, runs func, prints what it returns as JSON (exit 0), or
    one `learnflow: ...` line on stderr (exit 1: the call failed; 2: the command was misused)."""

    def run(args: argparse.Namespace) -> int:
        try:
            args.addr = resolve_addr(args)
            result = asyncio.run(asyncio.wait_for(func(args), CALL_TIMEOUT_SECONDS))
        except CliError as exc:
            return _fail(str(exc), 2)
        except SettingsError as exc:
            return _fail("; ".join(exc.problems), 2)
        except GRPCError as exc:
            return _fail(describe_grpc_error(exc), 1)
        except TimeoutError:  # before OSError, of which it is a subclass
            return _fail(f"no answer from {args.addr} within {CALL_TIMEOUT_SECONDS:.0f}s", 1)
        except (OSError, StreamTerminatedError, ProtocolError) as exc:
            return _fail(
                f"cannot reach the mesh at {args.addr} ({_reason(exc)}): is `learnflow up` running? "
                "Point at it with --addr, LEARNFLOW_ADDR or LEARNFLOW_GRPC_PORT",
                1,
            )
        except KeyboardInterrupt:
            return _fail("interrupted", 130)
        if result is not None:
            print_result(result)
        return 0

    return run


def _reason(exc: Exception) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"  # asyncio's own text names the address a second time
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def _fail(message: str, code: int) -> int:
    sys.stderr.write(f"learnflow: {message}\n")
    return code
