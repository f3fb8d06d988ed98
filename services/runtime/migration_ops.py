"""Building blocks for context migrations: grants, tenant row-level security, the event tables
(outbox, inbox, dead letters) that the runtime's event machinery uses in every context schema, and the
tables of work beyond one message (durable jobs, shared rate limits) for the contexts that use them."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.runtime.db import metadata
from services.runtime.work_tables import define_jobs_table, define_rate_limits_table


def _app_role() -> str:
    role = op.get_context().config.attributes["app_role"]  # type: ignore[union-attr]
    return str(role)


def grant_app_access(schema: str) -> None:
    """The application role may use the schema and read/write its tables (present and future)."""
    role = _app_role()
    op.execute(f'GRANT USAGE ON SCHEMA {schema} TO "{role}"')
    op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO "{role}"')
    op.execute(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO "{role}"')
    defaults = f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema}"
    op.execute(f'{defaults} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "{role}"')
    op.execute(f'{defaults} GRANT USAGE, SELECT ON SEQUENCES TO "{role}"')


def enable_tenant_rls(schema: str, table: str) -> None:
    """Rows are visible and writable only when their tenant_id is the transaction's app.tenant_id.
    With no tenant set, the table shows no rows (NULL never equals anything)."""
    qualified = f"{schema}.{table}"
    op.execute(f"ALTER TABLE {qualified} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {qualified} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {qualified} "
        "USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid) "
        "WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)"
    )


def outbox_channel(schema: str) -> str:
    return f"learnflow_outbox_{schema}"


def create_event_tables(schema: str) -> None:
    """Outbox (events written in the state change's transaction), inbox (event ids a consumer has
    applied) and dead letters (events a consumer gave up on)."""
    op.create_table(
        "outbox",
        sa.Column("seq", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", sa.Text, nullable=False, unique=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("headers", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        schema=schema,
    )
    # Wake the relay at commit: one NOTIFY per inserting statement, delivered only if the txn commits.
    op.execute(
        f"CREATE FUNCTION {schema}.outbox_notify() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN PERFORM pg_notify('{outbox_channel(schema)}', ''); RETURN NULL; END $$"
    )
    op.execute(
        f"CREATE TRIGGER outbox_notify AFTER INSERT ON {schema}.outbox "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {schema}.outbox_notify()"
    )
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.Text, primary_key=True),
        sa.Column("event_id", sa.Text, primary_key=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        schema=schema,
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("consumer", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("tenant_id", sa.Text, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("deliveries", sa.Integer, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("headers", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.UniqueConstraint("consumer", "event_id", name="uq_dead_letters_consumer_event"),
        schema=schema,
    )
    op.create_index("ix_dead_letters_created", "dead_letters", ["created_at"], schema=schema)


def jobs_channel(schema: str) -> str:
    return f"learnflow_jobs_{schema}"


def create_job_tables(schema: str) -> None:
    """The durable job table (services/runtime/jobs.py), created from its one definition in
    work_tables.py, and a trigger that wakes the context's job runners when a job is enqueued (one
    NOTIFY per inserting statement, delivered at commit, only if the transaction commits)."""
    define_jobs_table(metadata(schema)).create(op.get_bind())
    _notify_every_job(schema)


def _notify_every_job(schema: str) -> None:
    """The jobs trigger as create_job_tables made it: a NOTIFY for every inserting statement."""
    op.execute(
        f"CREATE OR REPLACE FUNCTION {schema}.jobs_notify() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN PERFORM pg_notify('{jobs_channel(schema)}', ''); RETURN NULL; END $$"
    )
    op.execute(
        f"CREATE TRIGGER jobs_notify AFTER INSERT ON {schema}.jobs "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {schema}.jobs_notify()"
    )


def wake_runners_for_due_jobs(schema: str) -> None:
    """The jobs trigger NOTIFYs only when an inserting statement added a job that a runner can claim
    now or within a second (queued, run_at <= now() + 1 s), not for one due later (a read-receipt
    poll in minutes, a retry's backoff) nor for one its process started itself
    (JobKind.start_here): each such wake-up cost every context's runner an empty claim and a
    next-due read. A runner finds jobs due later by its poll (at most a second apart) and its
    next-due read after each claim."""
    op.execute(
        f"CREATE OR REPLACE FUNCTION {schema}.jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$ "  # noqa: S608
        "BEGIN IF EXISTS (SELECT 1 FROM added WHERE state = 'queued' "
        "AND run_at <= now() + interval '1 second') THEN "
        f"PERFORM pg_notify('{jobs_channel(schema)}', ''); END IF; RETURN NULL; END $$"
    )
    op.execute(f"DROP TRIGGER jobs_notify ON {schema}.jobs")
    op.execute(
        f"CREATE TRIGGER jobs_notify AFTER INSERT ON {schema}.jobs REFERENCING NEW TABLE AS added "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {schema}.jobs_notify()"
    )


def wake_runners_for_every_job(schema: str) -> None:
    """Undoes wake_runners_for_due_jobs: a NOTIFY for every inserting statement, as
    create_job_tables made it."""
    op.execute(f"DROP TRIGGER jobs_notify ON {schema}.jobs")
    _notify_every_job(schema)


def drop_job_tables(schema: str) -> None:
    op.execute(f"DROP TABLE {schema}.jobs")
    op.execute(f"DROP FUNCTION {schema}.jobs_notify()")


def create_rate_limit_tables(schema: str) -> None:
    """The shared token buckets (services/runtime/ratelimit.py), from their one definition."""
    define_rate_limits_table(metadata(schema)).create(op.get_bind())


def drop_rate_limit_tables(schema: str) -> None:
    op.execute(f"DROP TABLE {schema}.rate_limits")
