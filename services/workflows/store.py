"""workflows's queries (SQLAlchemy Core). Each takes the unit of work's connection, whose transaction
is scoped to the caller's tenant (row-level security), and returns domain objects."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.runtime.db import parse_uuid
from services.runtime.work_tables import jobs_table
from services.workflows.domain.runs import FINISHED, PENDING, Run, StepRun, UsageRow
from services.workflows.tables import runs, steps, usage


def _step(row: Any) -> StepRun:
    return StepRun(
        id=row.step_id,
        type=row.type,
        position=row.position,
        status=row.status,
        output=row.output,
        error=row.error,
        attempts=row.attempts,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


def _run(row: Any, found: tuple[StepRun, ...] = ()) -> Run:
    return Run(
        id=str(row.id),
        tenant_id=str(row.tenant_id),
        template=row.template,
        template_version=row.template_version,
        status=row.status,
        input=dict(row.input),
        plan=dict(row.plan),
        idempotency_key=row.idempotency_key,
        created_by=row.created_by,
        correlation_id=row.correlation_id,
        error=row.error,
        created_at=row.created_at,
        finished_at=row.finished_at,
        steps=found,
    )


async def insert_run(session: AsyncConnection, run: Run) -> Run | None:
    """The new run and its pending steps; None when the tenant already has a run with its idempotency
    key (nothing written)."""
    made = (
        await session.execute(
            pg_insert(runs)
            .values(
                id=uuid.UUID(run.id),
                tenant_id=uuid.UUID(run.tenant_id),
                template=run.template,
                template_version=run.template_version,
                status=run.status,
                input=run.input,
                plan=run.plan,
                idempotency_key=run.idempotency_key,
                created_by=run.created_by,
                correlation_id=run.correlation_id,
            )
            .on_conflict_do_nothing(constraint="uq_runs_tenant_key")
            .returning(*runs.c)
        )
    ).first()
    if made is None:
        return None
    if run.steps:
        await session.execute(
            sa.insert(steps),
            [
                {
                    "run_id": uuid.UUID(run.id),
                    "step_id": s.id,
                    "tenant_id": uuid.UUID(run.tenant_id),
                    "position": s.position,
                    "type": s.type,
                    "status": PENDING,
                }
                for s in run.steps
            ],
        )
    return _run(made, run.steps)


async def run_by_key(session: AsyncConnection, key: str) -> Run | None:
    row = (await session.execute(sa.select(runs).where(runs.c.idempotency_key == key))).first()
    return await _with_steps(session, row) if row else None


async def get_run(session: AsyncConnection, run_id: str, *, for_update: bool = False) -> Run | None:
    """The run; `for_update` locks its row until the transaction ends (a cancel of a run not yet
    started decides under it)."""
    found = parse_uuid(run_id)
    if found is None:
        return None
    query = sa.select(runs).where(runs.c.id == found)
    row = (await session.execute(query.with_for_update() if for_update else query)).first()
    return await _with_steps(session, row) if row else None


async def start_pending(session: AsyncConnection, run_id: str, kind: str) -> bool:
    """Whether the run's start job (`kind`, keyed by the run's id) has not started it yet: queued,
    running, or dead after its attempts. Read under the run's row lock (get_run for_update)."""
    jobs = jobs_table("workflows")
    state = (
        await session.execute(sa.select(jobs.c.state).where(jobs.c.kind == kind, jobs.c.key == run_id))
    ).scalar()
    return state is not None and state != "done"


async def _with_steps(session: AsyncConnection, row: Any) -> Run:
    rows = (
        await session.execute(sa.select(steps).where(steps.c.run_id == row.id).order_by(steps.c.position))
    ).all()
    return _run(row, tuple(_step(r) for r in rows))


async def list_runs(
    session: AsyncConnection,
    *,
    limit: int,
    after: tuple[datetime, str] | None,
    template: str = "",
    status: str = "",
    created_by: str = "",
) -> list[Run]:
    """Newest first; `after` is the (created_at, id) of the last run of the previous page; with
    `created_by`, only that user's runs."""
    query = sa.select(runs).order_by(runs.c.created_at.desc(), runs.c.id.desc()).limit(limit)
    if after is not None:
        query = query.where(
            sa.tuple_(runs.c.created_at, runs.c.id)
            < sa.tuple_(sa.literal(after[0]), sa.literal(uuid.UUID(after[1])))
        )
    if template:
        query = query.where(runs.c.template == template)
    if status:
        query = query.where(runs.c.status == status)
    if created_by:
        query = query.where(runs.c.created_by == created_by)
    found = (await session.execute(query)).all()
    if not found:
        return []
    step_rows = (
        await session.execute(
            sa.select(steps).where(steps.c.run_id.in_([r.id for r in found])).order_by(steps.c.position)
        )
    ).all()
    by_run: dict[Any, list[StepRun]] = {}
    for r in step_rows:
        by_run.setdefault(r.run_id, []).append(_step(r))
    return [_run(r, tuple(by_run.get(r.id, ()))) for r in found]


async def step_started(session: AsyncConnection, run_id: str, step_id: str, attempt: int) -> None:
    await session.execute(
        sa.update(steps)
        .where(steps.c.run_id == uuid.UUID(run_id), steps.c.step_id == step_id)
        .where(steps.c.status.notin_(list(FINISHED)))
        .values(
            status="running",
            attempts=sa.func.greatest(steps.c.attempts, attempt),
            started_at=sa.func.coalesce(steps.c.started_at, sa.func.now()),
            updated_at=sa.func.now(),
        )
    )


async def step_ended(
    session: AsyncConnection,
    run_id: str,
    step_id: str,
    status: str,
    output: dict[str, Any] | None,
    error: str,
) -> None:
    await session.execute(
        sa.update(steps)
        .where(steps.c.run_id == uuid.UUID(run_id), steps.c.step_id == step_id)
        .values(
            status=status,
            output=output,
            error=error,
            finished_at=sa.func.now() if status in FINISHED else None,
            updated_at=sa.func.now(),
        )
    )


async def run_finished(
    session: AsyncConnection, run_id: str, status: str, failed_step: str, error: str
) -> None:
    """The run's end; a failed step gets the error, steps that never ended are cancelled."""
    rid = uuid.UUID(run_id)
    await session.execute(
        sa.update(runs)
        .where(runs.c.id == rid, runs.c.status.notin_(list(FINISHED)))
        .values(status=status, error=error, finished_at=sa.func.now())
    )
    if failed_step:
        await session.execute(
            sa.update(steps)
            .where(
                steps.c.run_id == rid, steps.c.step_id == failed_step, steps.c.status.notin_(list(FINISHED))
            )
            .values(
                status="failed" if status == "failed" else "cancelled", error=error, finished_at=sa.func.now()
            )
        )
    await session.execute(
        sa.update(steps)
        .where(steps.c.run_id == rid, steps.c.status.notin_(list(FINISHED)))
        .values(status="cancelled", finished_at=sa.func.now(), updated_at=sa.func.now())
    )


async def migrate_run(
    session: AsyncConnection,
    run_id: str,
    tenant_id: str,
    from_version: str,
    plan: dict[str, Any],
    new_steps: list[tuple[str, str, int]],
) -> bool:
    """The run moved to the plan's version: its version and plan, a pending row for each step the new
    version adds, the new positions, and the rows of steps it drops (not run: checked by the workflow)
    gone. False, writing nothing, when the run is not on `from_version` any more (a repeated write)."""
    rid = uuid.UUID(run_id)
    moved = await session.execute(
        sa.update(runs)
        .where(runs.c.id == rid, runs.c.template_version == from_version)
        .values(template_version=plan["version"], plan=plan)
    )
    if not moved.rowcount:
        return False
    await session.execute(
        sa.delete(steps).where(
            steps.c.run_id == rid,
            steps.c.step_id.notin_([sid for sid, _, _ in new_steps]),
            steps.c.status == PENDING,
        )
    )
    for sid, kind, position in new_steps:
        await session.execute(
            pg_insert(steps)
            .values(
                run_id=rid,
                step_id=sid,
                tenant_id=uuid.UUID(tenant_id),
                position=position,
                type=kind,
                status=PENDING,
            )
            .on_conflict_do_update(
                index_elements=["run_id", "step_id"],
                set_={"position": position, "updated_at": sa.func.now()},
            )
        )
    return True


# --- the usage ledger --------------------------------------------------------------------------------


async def record_usage(
    session: AsyncConnection,
    *,
    key: str,
    tenant_id: str,
    user_id: str,
    run_id: str | None,
    kind: str,
    subject: str,
    outcome: str,
    units: int = 1,
) -> bool:
    """One unit of use, once per key (a retried write records nothing more); True when recorded."""
    done = await session.execute(
        pg_insert(usage)
        .values(
            key=key,
            tenant_id=uuid.UUID(tenant_id),
            user_id=user_id,
            run_id=uuid.UUID(run_id) if run_id else None,
            day=sa.func.timezone("UTC", sa.func.now()).cast(sa.Date),
            kind=kind,
            subject=subject,
            outcome=outcome,
            units=units,
        )
        .on_conflict_do_nothing(index_elements=["key"])
    )
    return bool(done.rowcount)


async def tokens_spent(session: AsyncConnection, user_id: str) -> tuple[int, int]:
    """The model tokens the user and the whole tenant (the transaction's, row-level security) spent
    today (UTC), from the ledger: what the token limits are counted against."""
    today = sa.func.timezone("UTC", sa.func.now()).cast(sa.Date)
    mine = sa.func.sum(usage.c.units).filter(usage.c.user_id == user_id)
    row = (
        await session.execute(
            sa.select(mine.label("user"), sa.func.sum(usage.c.units).label("tenant")).where(
                usage.c.day == today, usage.c.kind == "model_tokens"
            )
        )
    ).one()
    return int(row.user or 0), int(row.tenant or 0)


async def usage_rows(session: AsyncConnection, first: date, last: date, user_id: str = "") -> list[UsageRow]:
    query = (
        sa.select(
            usage.c.day,
            usage.c.user_id,
            usage.c.kind,
            usage.c.subject,
            usage.c.outcome,
            sa.func.count().label("count"),
            sa.func.sum(usage.c.units).label("units"),
        )
        .where(usage.c.day >= first, usage.c.day <= last)
        .group_by(usage.c.day, usage.c.user_id, usage.c.kind, usage.c.subject, usage.c.outcome)
        .order_by(usage.c.day, usage.c.user_id, usage.c.kind, usage.c.subject, usage.c.outcome)
    )
    if user_id:
        query = query.where(usage.c.user_id == user_id)
    return [
        UsageRow(r.day.isoformat(), r.user_id, r.kind, r.subject, r.outcome, int(r[5]), int(r.units))
        for r in (await session.execute(query)).all()  # r[5]: the count (Row.count is tuple.count)
    ]
