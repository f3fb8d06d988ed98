"""A demo LMS database beside ours, for the activity context (services/activity, docs/activity.md).

The LMS is somebody else's database: the activity monitor only reads it, through a read-only role. In
the embedded mode we host it in the same embedded PostgreSQL as a second database, `lms`, owned by its
own role (`lms_owner`, what the LMS application would write with) and readable by `lms_reader`
(SELECT only, every session read-only, and a member of `pg_read_all_stats` so the monitor can see the
start time of the LMS's open transactions: the late-commit guard of docs/activity.md).

The schema follows the product source (seed 004): students, mentors, `Mentortostudent`, exams and
contents with course and chapter, `Attempts` and `ContentAttempts` (names lower-cased, as PostgreSQL
folds unquoted identifiers). `updated_at` is the LMS's change time: `now()` of the writing transaction
unless the writer sets it (a trigger keeps it moving on updates that do not), with an index on
`(updated_at, id)` for the monitor's keyset reads. No foreign keys or CHECKs on the attempts: a real
LMS has rows with unknown states and missing students, and the monitor must report and skip them.

`simulate` writes realistic attempts (`learnflow lms simulate`): each one started, then completed,
then graded passed or failed, in separate transactions, as an LMS does.

Self-contained on purpose (the runtime imports no context): the tests in tests/activity and the demo
use it, the activity context reads the database only through LMS_DATABASE_URL.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

import psycopg

LMS_DATABASE = "lms"
LMS_OWNER = "lms_owner"
LMS_READER = "lms_reader"

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS students (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    email text NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS mentors (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    email text NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS mentortostudent (
    mentor_id bigint NOT NULL REFERENCES mentors (id),
    student_id bigint NOT NULL REFERENCES students (id),
    PRIMARY KEY (mentor_id, student_id)
);
CREATE TABLE IF NOT EXISTS exams (
    id bigserial PRIMARY KEY,
    title text NOT NULL,
    course text NOT NULL DEFAULT '',
    chapter text NOT NULL DEFAULT '',
    pass_percentage numeric NOT NULL DEFAULT 60
);
CREATE TABLE IF NOT EXISTS contents (
    id bigserial PRIMARY KEY,
    title text NOT NULL,
    course text NOT NULL DEFAULT '',
    chapter text NOT NULL DEFAULT '',
    kind text NOT NULL DEFAULT 'video'
);
CREATE TABLE IF NOT EXISTS attempts (
    id bigserial PRIMARY KEY,
    student_id bigint,
    exam_id bigint,
    state text NOT NULL,
    score numeric,
    percentage numeric,
    started_at timestamptz,
    finished_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS attempts_updated ON attempts (updated_at, id);
CREATE TABLE IF NOT EXISTS contentattempts (
    id bigserial PRIMARY KEY,
    student_id bigint,
    content_id bigint,
    state text NOT NULL,
    percentage numeric,
    started_at timestamptz,
    finished_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS contentattempts_updated ON contentattempts (updated_at, id);
CREATE OR REPLACE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS attempts_touch ON attempts;
CREATE TRIGGER attempts_touch BEFORE UPDATE ON attempts FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
DROP TRIGGER IF EXISTS contentattempts_touch ON contentattempts;
CREATE TRIGGER contentattempts_touch BEFORE UPDATE ON contentattempts
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
"""

# The demo's people: the mentor and student share their emails with identity's demo users (and the
# local Zulip's accounts), so the monitor links them and the mentor's DM resolves. The second mentor
# has no Zulip account: notifications to them take the fallback channel.
DEMO_STUDENTS = [
    ("Demo Student", "student@demo.test"),
    ("Ada Lovelace", "ada@lms.test"),
    ("Alan Turing", "alan@lms.test"),
    ("Grace Hopper", "grace@lms.test"),
]
DEMO_MENTORS = [("Demo Teacher", "teacher@demo.test"), ("Mentor Without Zulip", "mentor-nozulip@lms.test")]
DEMO_EXAMS = [
    ("Python Basics Quiz", "Python 1", "Chapter 1: Variables"),
    ("Loops Exam", "Python 1", "Chapter 2: Control flow"),
    ("Functions Final", "Python 1", "Chapter 3: Functions"),
]
DEMO_CONTENTS = [
    ("Intro to Variables (video)", "Python 1", "Chapter 1: Variables", "video"),
    ("For loops explained", "Python 1", "Chapter 2: Control flow", "article"),
    ("Writing functions (video)", "Python 1", "Chapter 3: Functions", "video"),
]


@dataclass(frozen=True)
class LmsUrls:
    owner: str  # what the LMS application writes with (tests, the simulator)
    reader: str  # LMS_DATABASE_URL: the monitor's read-only role

    @property
    def owner_conninfo(self) -> str:
        return self.owner.replace("postgresql+psycopg://", "postgresql://")


def create_lms_database(psql, port: int, database: str = LMS_DATABASE, *, demo_data: bool = True) -> LmsUrls:
    """Creates the LMS database (idempotent) with its two roles, schema and demo data; `psql(sql,
    database)` runs SQL as the superuser (EmbeddedPostgres._psql). The names are this module's
    constants or a test's own database name: nothing user-supplied."""
    for role in (LMS_OWNER, LMS_READER):
        if psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{role}'", "postgres") != "1":  # noqa: S608
            psql(f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE", "postgres")
    psql(f"ALTER ROLE {LMS_READER} SET default_transaction_read_only = on", "postgres")
    psql(f"GRANT pg_read_all_stats TO {LMS_READER}", "postgres")
    if psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}'", "postgres") != "1":  # noqa: S608
        psql(f"CREATE DATABASE {database} OWNER {LMS_OWNER}", "postgres")
    psql(f"SET ROLE {LMS_OWNER}; {SCHEMA_SQL}", database)
    psql(
        f"SET ROLE {LMS_OWNER}; GRANT USAGE ON SCHEMA public TO {LMS_READER}; "
        f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {LMS_READER}; "
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {LMS_READER}",
        database,
    )
    urls = LmsUrls(
        owner=f"postgresql+psycopg://{LMS_OWNER}@127.0.0.1:{port}/{database}",
        reader=f"postgresql+psycopg://{LMS_READER}@127.0.0.1:{port}/{database}",
    )
    if demo_data:
        seed_demo(urls)
    return urls


def seed_demo(urls: LmsUrls) -> None:
    """The demo's students, mentors (each student mentored by the demo teacher, the last two also by
    the mentor without Zulip), exams and contents; idempotent."""
    with psycopg.connect(urls.owner_conninfo, autocommit=True) as conn:
        if conn.execute("SELECT count(*) FROM students").fetchone()[0]:  # type: ignore[index]
            return
        with conn.transaction():
            for name, email in DEMO_STUDENTS:
                conn.execute("INSERT INTO students (name, email) VALUES (%s, %s)", (name, email))
            for name, email in DEMO_MENTORS:
                conn.execute("INSERT INTO mentors (name, email) VALUES (%s, %s)", (name, email))
            conn.execute("INSERT INTO mentortostudent SELECT 1, id FROM students")
            conn.execute("INSERT INTO mentortostudent SELECT 2, id FROM students WHERE id > 2")
            for title, course, chapter in DEMO_EXAMS:
                conn.execute(
                    "INSERT INTO exams (title, course, chapter) VALUES (%s, %s, %s)", (title, course, chapter)
                )
            for title, course, chapter, kind in DEMO_CONTENTS:
                conn.execute(
                    "INSERT INTO contents (title, course, chapter, kind) VALUES (%s, %s, %s, %s)",
                    (title, course, chapter, kind),
                )


def simulate(
    owner_conninfo: str, attempts: int, *, pause: float = 0.2, seed: int | None = None
) -> dict[str, int]:
    """Writes `attempts` realistic attempts as the LMS would: an exam attempt is started, then
    completed with a score, then graded passed or failed (each its own transaction, `pause` apart);
    about a third are content attempts (started, then completed or, for a video, watched). Returns
    how many rows ended in each state."""
    rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
    ended: dict[str, int] = {}
    with psycopg.connect(owner_conninfo, autocommit=True) as conn:
        students = [r[0] for r in conn.execute("SELECT id FROM students ORDER BY id")]
        exams = [r[0] for r in conn.execute("SELECT id FROM exams ORDER BY id")]
        contents = [(r[0], r[1]) for r in conn.execute("SELECT id, kind FROM contents ORDER BY id")]
        if not students or not exams or not contents:
            raise RuntimeError("the LMS has no students, exams or contents: create it with demo data first")
        for _ in range(attempts):
            student = rng.choice(students)
            if rng.random() < 0.34:
                content, kind = rng.choice(contents)
                (row,) = conn.execute(
                    "INSERT INTO contentattempts (student_id, content_id, state, percentage, started_at)"
                    " VALUES (%s, %s, 'started', 0, now()) RETURNING id",
                    (student, content),
                ).fetchone()  # type: ignore[misc]
                time.sleep(pause)
                final = "watched" if kind == "video" else "completed"
                conn.execute(
                    "UPDATE contentattempts SET state = %s, percentage = 100, finished_at = now()"
                    " WHERE id = %s",
                    (final, row),
                )
            else:
                exam = rng.choice(exams)
                (row,) = conn.execute(
                    "INSERT INTO attempts (student_id, exam_id, state, started_at)"
                    " VALUES (%s, %s, 'started', now())"
                    " RETURNING id",
                    (student, exam),
                ).fetchone()  # type: ignore[misc]
                time.sleep(pause)
                pct = round(rng.uniform(30, 100), 1)
                conn.execute(
                    "UPDATE attempts SET state = 'completed', percentage = %s, score = %s,"
                    " finished_at = now()"
                    " WHERE id = %s",
                    (pct, round(pct / 10, 1), row),
                )
                time.sleep(pause)
                final = "passed" if pct >= 60 else "failed"
                conn.execute("UPDATE attempts SET state = %s WHERE id = %s", (final, row))
            ended[final] = ended.get(final, 0) + 1
    return ended


def wanted(env: dict[str, str], *, default: bool) -> bool:
    """LEARNFLOW_DEMO_LMS: whether the embedded mesh hosts the demo LMS and runs the monitor over it
    (by default `learnflow up` does; test meshes do when they ask)."""
    value = env.get("LEARNFLOW_DEMO_LMS", "").strip().lower()
    return default if not value else value in ("1", "true", "yes", "on")


def start_demo_lms(mesh: Any) -> LmsUrls:
    """For the embedded mesh, after the demo tenant is seeded: the `lms` database beside ours with its
    demo data, the demo tenant's `lms-activity` notify template (body `{{ message }}`, saved by the demo
    teacher unless it exists), and `learnflow serve` started again with the monitor on
    (LMS_ACTIVITY_MONITOR_ENABLED, LMS_DATABASE_URL = the read-only role, LMS_TENANT_ID = the demo
    tenant, whose id exists only once identity has seeded it: hence the second start)."""
    import grpc
    from learnflow.identity.v1 import identity_service_pb2 as id_pb
    from learnflow.identity.v1 import identity_service_pb2_grpc as id_grpc
    from learnflow.notify.v1 import notify_service_pb2 as nt_pb
    from learnflow.notify.v1 import notify_service_pb2_grpc as nt_grpc
    from learnflow.notify.v1 import resources_pb2 as nt_resources

    from services.runtime.local.demo import DEMO_PASSWORD, DEMO_TEACHER, DEMO_TENANT

    urls = create_lms_database(mesh.postgres._psql, mesh.postgres.port)
    with grpc.insecure_channel(mesh.grpc_addr) as channel:
        teacher = id_grpc.IdentityServiceStub(channel).Login(
            id_pb.LoginRequest(tenant=DEMO_TENANT, email=DEMO_TEACHER, password=DEMO_PASSWORD), timeout=10
        )
        auth = (("authorization", f"Bearer {teacher.tokens.access_token}"),)
        notify = nt_grpc.NotifyServiceStub(channel)
        try:
            notify.GetTemplate(nt_pb.GetTemplateRequest(name="lms-activity"), metadata=auth, timeout=10)
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.NOT_FOUND:
                raise
            notify.PutTemplate(
                nt_pb.PutTemplateRequest(
                    template=nt_resources.Template(name="lms-activity", body="{{ message }}")
                ),
                metadata=auth,
                timeout=10,
            )
    mesh.env.update(
        LMS_ACTIVITY_MONITOR_ENABLED="true",
        LMS_DATABASE_URL=urls.reader,
        LMS_TENANT_ID=teacher.user.tenant_id,
    )
    mesh.stop_server()
    mesh.start_server()
    return urls
