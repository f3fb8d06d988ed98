"""`learnflow lms`: the demo LMS of the embedded mesh (services/runtime/local/lms.py).

  learnflow lms simulate --attempts 20        attempts written as the LMS would

`simulate` writes with the LMS's own role (never the monitor's read-only one): by default the
embedded mesh's `lms` database (LEARNFLOW_PG_PORT), else --lms-url / LMS_OWNER_DATABASE_URL. Within one
poll interval the monitor stores the events and the student's mentor gets the DM in the local Zulip
(http://127.0.0.1:8026)."""

from __future__ import annotations

import argparse
import json
import os
import sys

from services.runtime.local import lms


def _owner_url(args: argparse.Namespace) -> str:
    if args.lms_url:
        return str(args.lms_url)
    if url := os.environ.get("LMS_OWNER_DATABASE_URL"):
        return url
    port = os.environ.get("LEARNFLOW_PG_PORT", "55432")
    return f"postgresql://{lms.LMS_OWNER}@127.0.0.1:{port}/{lms.LMS_DATABASE}"


def _simulate(args: argparse.Namespace) -> int:
    url = _owner_url(args).replace("postgresql+psycopg://", "postgresql://")
    try:
        ended = lms.simulate(url, args.attempts, pause=args.pause, seed=args.seed)
    except Exception as exc:  # a CLI: say what failed, exit non-zero
        sys.stderr.write(f"learnflow lms simulate: {type(exc).__name__}: {exc}\n")
        return 1
    sys.stdout.write(json.dumps({"attempts": args.attempts, "final_states": ended}) + "\n")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lms", help="the demo LMS database", description=__doc__)
    p_sub = p.add_subparsers(dest="lms_command", required=True, metavar="{simulate}")
    sim = p_sub.add_parser("simulate", help="write realistic attempts into the demo LMS")
    sim.add_argument("--attempts", type=int, default=10, help="how many attempts (default 10)")
    sim.add_argument("--pause", type=float, default=0.2, help="seconds between an attempt's steps")
    sim.add_argument("--seed", type=int, default=None, help="random seed, for a repeatable run")
    sim.add_argument("--lms-url", default="", help="the LMS owner's URL (default: the embedded mesh's)")
    sim.set_defaults(func=_simulate)
