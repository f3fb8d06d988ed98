"""What psycopg spends adapting one statement's array parameters, text format (`%(x)s::T[]`) against
binary (`%(x)b::T[]`), for the arrays the hot statements send: the outbox's payloads (bytea) and
headers (JSON text), uuids, and plain text.

    .venv/bin/python -m bench.db_array_params [--n 5000] [--rows 2]

No database: it times psycopg's own adaptation (a fresh Transformer per statement, as each cursor
makes one) of `--rows` elements per array, this process's CPU. The reason the statements sent through
db.run_sql take their array parameters in binary (services/runtime/db.py, run_sql's docstring).
Results in bench/results/db_array_params.json.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from typing import Any

from psycopg._queries import PostgresQuery
from psycopg.adapt import Transformer

from bench.common import figures, report


def arrays(rows: int) -> dict[str, list[Any]]:
    ids = [str(uuid.uuid4()) for _ in range(rows)]
    return {
        "outbox payloads (bytea)": [b"\x0a\x24" + uuid.uuid4().bytes * 8 for _ in range(rows)],
        "outbox headers (JSON text)": [
            json.dumps(
                {"ce-id": i, "ce-type": "learnflow.interventions.v1.Decided", "traceparent": "00-" + i}
            )
            for i in ids
        ],
        "ids (uuid)": [uuid.UUID(i) for i in ids],
        "subjects (text)": ["interventions.decided"] * rows,
    }


def dump_times(values: list[Any], placeholder: str, n: int) -> list[float]:
    query = f"SELECT %(v){placeholder}".encode()
    params = {"v": values}
    times = []
    for _ in range(n):
        began = time.perf_counter()
        pgq = PostgresQuery(Transformer())
        pgq.convert(query, params)
        pgq.dump(params)
        times.append(time.perf_counter() - began)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=5000, help="statements adapted per figure")
    parser.add_argument("--rows", type=int, default=2, help="elements per array (a batch's rows)")
    args = parser.parse_args()
    results = []
    for name, values in arrays(args.rows).items():
        for fmt, placeholder in (("text", "s"), ("binary", "b")):
            dump_times(values, placeholder, min(args.n, 200))  # warm
            times = dump_times(values, placeholder, args.n)
            results.append(figures(f"{name}, {args.rows} rows, {fmt}", 1, times, 0, sum(times)))
    report("db_array_params", results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
