"""interventions's queries (SQLAlchemy Core; the statements every consumed batch of signals runs as
plain SQL through `run_sql`, docs/recipes.md): they take and return domain objects, never rows. Every
statement runs in a transaction scoped to one tenant (row-level security)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.interventions.domain import PolicyVersion, StoredDecision
from services.interventions.domain.engine import Signal, TraceStep
from services.interventions.domain.policy import Policy
from services.interventions.domain.sessions import WorkSession
from services.interventions.tables import (
    decisions,
    policy_versions,
    signals,
    student_days,
    students,
)
from services.runtime.db import columns, insert_many, run_sql

# The select lists of the statements run_sql sends (declared columns, never *: db.columns).
_VERSION_COLUMNS = columns(policy_versions)
_DECISION_COLUMNS = columns(decisions)


def _version(r: Any) -> PolicyVersion:
    return PolicyVersion(
        id=str(r.id),
        tenant_id=str(r.tenant_id),
        policy_id=r.policy_id,
        version=r.version,
        file=r.file,
        content=r.content,
        sha256=r.sha256,
        rules=r.rules,
        mode=r.mode,
        source=r.source,
        author=r.author,
        reason=r.reason,
        activated_at=r.activated_at,
        deactivated_at=r.deactivated_at,
    )


async def lock_policy(session: AsyncConnection, tenant_id: str, policy_id: str) -> None:
    """Serialises the activations of one policy of one tenant (version numbers, the one in force)."""
    await session.execute(
        sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
        {"k": f"interventions:{tenant_id}:{policy_id}"},
    )


async def active_versions(session: AsyncConnection) -> list[PolicyVersion]:
    rows = await run_sql(
        session,
        f"SELECT {_VERSION_COLUMNS} FROM interventions.policy_versions "  # noqa: S608 (declared columns)
        "WHERE deactivated_at IS NULL ORDER BY policy_id",
    )
    return [_version(r) for r in rows]


async def active_version(session: AsyncConnection, policy_id: str) -> PolicyVersion | None:
    row = (
        await session.execute(
            sa.select(policy_versions).where(
                policy_versions.c.policy_id == policy_id, policy_versions.c.deactivated_at.is_(None)
            )
        )
    ).first()
    return _version(row) if row else None


async def insert_version(
    session: AsyncConnection,
    tenant_id: str,
    policy: Policy,
    *,
    source: str,
    author: str,
    reason: str,
    now: datetime,
) -> PolicyVersion:
    """The next version of `policy` for the tenant, in force from `now`; the one it replaces is
    deactivated at the same moment. The caller holds lock_policy."""
    await session.execute(
        sa.update(policy_versions)
        .where(policy_versions.c.policy_id == policy.id, policy_versions.c.deactivated_at.is_(None))
        .values(deactivated_at=now)
    )
    number = (
        await session.execute(
            sa.select(sa.func.coalesce(sa.func.max(policy_versions.c.version), 0)).where(
                policy_versions.c.policy_id == policy.id
            )
        )
    ).scalar_one() + 1
    row = (
        await session.execute(
            sa.insert(policy_versions)
            .values(
                id=uuid.uuid4(),
                tenant_id=tenant_id,
                policy_id=policy.id,
                version=number,
                file=policy.file,
                content=policy.content,
                sha256=policy.sha256,
                rules=policy.rules,
                mode=policy.mode,
                source=source,
                author=author,
                reason=reason,
                activated_at=now,
            )
            .returning(policy_versions)
        )
    ).one()
    return _version(row)


async def get_version(session: AsyncConnection, policy_id: str, version: int) -> PolicyVersion | None:
    row = (
        await session.execute(
            sa.select(policy_versions).where(
                policy_versions.c.policy_id == policy_id, policy_versions.c.version == version
            )
        )
    ).first()
    return _version(row) if row else None


async def get_version_by_id(session: AsyncConnection, version_id: str) -> PolicyVersion | None:
    row = (
        await session.execute(sa.select(policy_versions).where(policy_versions.c.id == version_id))
    ).first()
    return _version(row) if row else None


async def list_versions(
    session: AsyncConnection, policy_id: str, *, limit: int, after: tuple[datetime, str] | None
) -> list[PolicyVersion]:
    """Newest first; `after` is the (activated_at, id) of the last one of the previous page."""
    q = sa.select(policy_versions)
    if policy_id:
        q = q.where(policy_versions.c.policy_id == policy_id)
    if after is not None:
        q = q.where(
            sa.tuple_(policy_versions.c.activated_at, policy_versions.c.id)
            < sa.tuple_(sa.literal(after[0]), sa.literal(uuid.UUID(after[1])))
        )
    q = q.order_by(policy_versions.c.activated_at.desc(), policy_versions.c.id.desc()).limit(limit)
    return [_version(r) for r in await session.execute(q)]


async def insert_signal(
    session: AsyncConnection, signal: Signal, time_zone: str, student_name: str
) -> str | None:
    """Stores the signal; None when its source was stored before (a redelivered event)."""
    row = (
        await session.execute(
            pg_insert(signals)
            .values(
                id=uuid.UUID(signal.id),
                tenant_id=signal.tenant_id,
                student_id=signal.student_id,
                kind=signal.kind,
                source=signal.source or signal.id,
                occurred_at=signal.occurred_at,
                topic=signal.topic,
                key=signal.key,
                rule=signal.rule,
                error=signal.error,
                severity=signal.severity,
                verdict=signal.verdict,
                minutes=signal.minutes,
                count=signal.count,
                explanation=signal.explanation,
                teacher_ids=list(signal.teacher_ids),
                time_zone=time_zone,
                student_name=student_name,
            )
            .on_conflict_do_nothing(constraint="uq_signals_source")
            .returning(signals.c.id)
        )
    ).first()
    return str(row.id) if row else None


async def signal_id_of_source(session: AsyncConnection, source: str) -> str | None:
    row = (await session.execute(sa.select(signals.c.id).where(signals.c.source == source))).first()
    return str(row.id) if row else None


async def count_repeats(
    session: AsyncConnection,
    student_id: str,
    kind: str,
    fact: str,
    value: str,
    since: datetime,
    until: datetime,
) -> int:
    column = signals.c[fact]
    return (
        await session.execute(
            sa.select(sa.func.count()).where(
                signals.c.student_id == student_id,
                signals.c.kind == kind,
                column == value,
                signals.c.occurred_at >= since,
                signals.c.occurred_at <= until,
            )
        )
    ).scalar_one()


async def lock_student_day(session: AsyncConnection, tenant_id: str, student_id: str, day: date) -> int:
    """Locks the student's row for the day (created when missing) until the transaction ends and
    returns how many interventions reached them that day: concurrent decisions for one student wait
    here, so the daily cap is exact."""
    await session.execute(
        pg_insert(student_days)
        .values(tenant_id=tenant_id, student_id=student_id, day=day, sent=0)
        .on_conflict_do_nothing()
    )
    return (
        await session.execute(
            sa.select(student_days.c.sent)
            .where(student_days.c.student_id == student_id, student_days.c.day == day)
            .with_for_update()
        )
    ).scalar_one()


async def add_sent(session: AsyncConnection, student_id: str, day: date, n: int) -> None:
    await session.execute(
        sa.update(student_days)
        .where(student_days.c.student_id == student_id, student_days.c.day == day)
        .values(sent=student_days.c.sent + n)
    )


async def last_sent(session: AsyncConnection, student_id: str) -> dict[str, datetime]:
    """When each intervention last reached the student (by its signal's time: decisions are made in
    signal time, so the backtest and the live path agree)."""
    rows = await session.execute(
        sa.select(decisions.c.intervention, sa.func.max(decisions.c.signal_occurred_at))
        .where(decisions.c.student_id == student_id, decisions.c.status == "sent")
        .group_by(decisions.c.intervention)
    )
    return {r[0]: r[1] for r in rows}


def _decision(r: Any) -> StoredDecision:
    return StoredDecision(
        id=str(r.id),
        tenant_id=str(r.tenant_id),
        signal_id=str(r.signal_id),
        student_id=r.student_id,
        policy_id=r.policy_id,
        policy_version_id=str(r.policy_version_id),
        policy_version=r.policy_version,
        intervention=r.intervention,
        status=r.status,
        reason=r.reason,
        urgency=r.urgency,
        trace=tuple(TraceStep(t["condition"], t["held"], t["value"]) for t in r.trace),
        local_day=r.local_day,
        recipients=tuple(r.recipients),
        subject=r.subject,
        message=r.message,
        delivery_status=r.delivery_status,
        delivery_attempts=r.delivery_attempts,
        moodle_message_id=r.moodle_message_id,
        delivery_error=r.delivery_error,
        signal_occurred_at=r.signal_occurred_at,
        created_at=r.created_at,
        delivered_at=r.delivered_at,
    )


async def insert_decisions(session: AsyncConnection, rows: Sequence[StoredDecision]) -> list[StoredDecision]:
    if not rows:
        return []
    values = [
        {
            "id": uuid.UUID(d.id),
            "tenant_id": d.tenant_id,
            "signal_id": uuid.UUID(d.signal_id),
            "student_id": d.student_id,
            "policy_id": d.policy_id,
            "policy_version_id": uuid.UUID(d.policy_version_id),
            "policy_version": d.policy_version,
            "intervention": d.intervention,
            "status": d.status,
            "reason": d.reason,
            "urgency": d.urgency,
            "trace": [{"condition": t.condition, "held": t.held, "value": t.value} for t in d.trace],
            "local_day": d.local_day,
            "recipients": list(d.recipients),
            "subject": d.subject,
            "message": d.message,
            "delivery_status": d.delivery_status,
            "signal_occurred_at": d.signal_occurred_at,
            "created_at": d.created_at,
        }
        for d in rows
    ]
    return [_decision(r) for r in await insert_many(session, decisions, values)]


async def decisions_of_signal(session: AsyncConnection, signal_id: str) -> list[StoredDecision]:
    rows = await session.execute(
        sa.select(decisions)
        .where(decisions.c.signal_id == signal_id)
        .order_by(decisions.c.urgency.desc(), decisions.c.policy_id)
    )
    return [_decision(r) for r in rows]


_GET_DECISION = f"SELECT {_DECISION_COLUMNS} FROM interventions.decisions WHERE id = %(id)s"  # noqa: S608
_GET_DECISION_LOCKED = _GET_DECISION + " FOR UPDATE"


async def get_decision(
    session: AsyncConnection, decision_id: str, *, lock: bool = False
) -> StoredDecision | None:
    rows = await run_sql(
        session, _GET_DECISION_LOCKED if lock else _GET_DECISION, {"id": uuid.UUID(decision_id)}
    )
    return _decision(rows[0]) if rows else None


async def get_decisions(session: AsyncConnection, decision_ids: Sequence[str]) -> list[StoredDecision]:
    """The decisions among these ids, locked (in id order, so two deliveries cannot deadlock)."""
    if not decision_ids:
        return []
    rows = await run_sql(
        session,
        f"SELECT {_DECISION_COLUMNS} FROM interventions.decisions "  # noqa: S608 (declared columns)
        "WHERE id = ANY(%(ids)b::uuid[]) ORDER BY id FOR UPDATE",
        {"ids": [uuid.UUID(i) for i in decision_ids]},
    )
    return [_decision(r) for r in rows]


# One statement for any number of decisions (unnest of arrays), sent by psycopg itself (run_sql).
_RECORD_DELIVERIES = (
    f"UPDATE {decisions.fullname} AS d SET delivery_status = v.status, delivery_attempts = v.attempts, "  # noqa: S608 (our table)
    "last_attempt_at = v.at, delivered_at = v.delivered, moodle_message_id = v.mid, delivery_error = v.err "
    "FROM unnest(%(ids)b::uuid[], %(statuses)b::text[], %(attempts)b::int[], "
    "%(ats)b::timestamptz[], %(delivered)b::timestamptz[], %(mids)b::text[], "
    "%(errors)b::text[]) AS v(id, status, attempts, at, delivered, mid, err) WHERE d.id = v.id"
)


async def record_deliveries(
    session: AsyncConnection, rows: Sequence[tuple[StoredDecision, datetime]]
) -> None:
    """Each decision's delivery columns as given (status, attempts, delivered time, Moodle id, error)
    and the time of this change (last_attempt_at), in one statement."""
    if not rows:
        return
    await run_sql(
        session,
        _RECORD_DELIVERIES,
        {
            "ids": [uuid.UUID(d.id) for d, _ in rows],
            "statuses": [d.delivery_status for d, _ in rows],
            "attempts": [d.delivery_attempts for d, _ in rows],
            "ats": [at for _, at in rows],
            "delivered": [d.delivered_at for d, _ in rows],
            "mids": [d.moodle_message_id for d, _ in rows],
            "errors": [d.delivery_error[:1000] for d, _ in rows],
        },
    )


async def set_recipients(
    session: AsyncConnection, decision_id: str, recipients: Sequence[str]
) -> StoredDecision:
    """The recipients of a decision decided before they were known (ask_teacher's note to teachers
    looked up in progress after the decision: service.teachers_job)."""
    row = (
        await session.execute(
            sa.update(decisions)
            .where(decisions.c.id == decision_id)
            .values(recipients=list(recipients))
            .returning(decisions)
        )
    ).one()
    return _decision(row)


async def suppress_decision(session: AsyncConnection, decision_id: str, reason: str) -> StoredDecision:
    """A sent decision that turned out to reach nobody (the student has no teacher): suppressed with
    the reason, never delivered."""
    row = (
        await session.execute(
            sa.update(decisions)
            .where(decisions.c.id == decision_id)
            .values(status="suppressed", reason=reason[:1000], delivery_status="not_sent")
            .returning(decisions)
        )
    ).one()
    return _decision(row)


async def list_decisions(
    session: AsyncConnection, student_id: str, *, limit: int, after: tuple[datetime, str] | None
) -> list[StoredDecision]:
    q = sa.select(decisions)
    if student_id:
        q = q.where(decisions.c.student_id == student_id)
    if after is not None:
        q = q.where(
            sa.tuple_(decisions.c.created_at, decisions.c.id)
            < sa.tuple_(sa.literal(after[0]), sa.literal(uuid.UUID(after[1])))
        )
    q = q.order_by(decisions.c.created_at.desc(), decisions.c.id.desc()).limit(limit)
    return [_decision(r) for r in await session.execute(q)]


async def signals_between(
    session: AsyncConnection, start: datetime, end: datetime, limit: int
) -> tuple[list[Signal], dict[str, str]]:
    """The tenant's signals that occurred in [start, end), oldest first, and each student's time zone:
    the first `limit` of them (a caller asks for one more than it takes, to know the window holds
    more without reading them all into memory)."""
    rows = await session.execute(
        sa.select(signals)
        .where(signals.c.occurred_at >= start, signals.c.occurred_at < end)
        .order_by(signals.c.occurred_at, signals.c.id)
        .limit(limit)
    )
    out: list[Signal] = []
    zones: dict[str, str] = {}
    for r in rows:
        out.append(
            Signal(
                id=str(r.id),
                tenant_id=str(r.tenant_id),
                student_id=r.student_id,
                kind=r.kind,
                occurred_at=r.occurred_at,
                topic=r.topic,
                key=r.key,
                rule=r.rule,
                error=r.error,
                severity=r.severity,
                verdict=r.verdict,
                minutes=r.minutes,
                count=r._mapping["count"],  # Row.count is the tuple method
                explanation=r.explanation,
                teacher_ids=tuple(r.teacher_ids),
                source=r.source,
            )
        )
        zones[r.student_id] = r.time_zone
    return out, zones


async def set_student(
    session: AsyncConnection, tenant_id: str, student_id: str, time_zone: str, name: str
) -> None:
    await session.execute(
        pg_insert(students)
        .values(tenant_id=uuid.UUID(tenant_id), student_id=student_id, time_zone=time_zone, display_name=name)
        .on_conflict_do_update(
            index_elements=["tenant_id", "student_id"], set_={"time_zone": time_zone, "display_name": name}
        )
    )


async def get_student(session: AsyncConnection, student_id: str) -> tuple[str, str] | None:
    """(time zone, display name) of a student identity told about, else None."""
    row = (
        await session.execute(
            sa.select(students.c.time_zone, students.c.display_name).where(
                students.c.student_id == student_id
            )
        )
    ).first()
    return (row.time_zone, row.display_name) if row else None


# --- set-based reads and writes for a batch of signals (service.evaluate_batch) ------------------------


async def students_of(session: AsyncConnection, student_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """(time zone, display name) of each of these students identity told about."""
    if not student_ids:
        return {}
    rows = await run_sql(
        session,
        "SELECT student_id, time_zone, display_name FROM interventions.students "
        "WHERE student_id = ANY(%(ids)b::text[])",
        {"ids": sorted(set(student_ids))},
    )
    return {r.student_id: (r.time_zone, r.display_name) for r in rows}


async def sources_stored(session: AsyncConnection, sources: Sequence[str]) -> dict[str, str]:
    """source -> signal id, for the sources among these stored before (redelivered events)."""
    if not sources:
        return {}
    rows = await run_sql(
        session,
        "SELECT source, id FROM interventions.signals WHERE source = ANY(%(sources)b::text[])",
        {"sources": list(sources)},
    )
    return {r.source: str(r.id) for r in rows}


async def lock_student_days(
    session: AsyncConnection, tenant_id: str, keys: Sequence[tuple[str, date]]
) -> dict[tuple[str, date], int]:
    """lock_student_day for several (student, day) rows at once, always in one order (student, day),
    so two batches locking overlapping students cannot deadlock. Returns how many interventions
    reached each student that day."""
    ordered = sorted(set(keys))
    if not ordered:
        return {}
    # One statement, as lock_work_sessions: the no-op update on conflict locks an existing row and
    # returns its count as it is once any concurrent batch for the student has committed.
    rows = await run_sql(
        session,
        "INSERT INTO interventions.student_days (tenant_id, student_id, day, sent) "
        "SELECT %(tenant)s::uuid, s, d, 0 FROM unnest(%(s)b::text[], %(d)b::date[]) AS q(s, d) "
        "ORDER BY s, d ON CONFLICT (tenant_id, student_id, day) "
        "DO UPDATE SET tenant_id = excluded.tenant_id RETURNING student_id, day, sent",
        {"tenant": tenant_id, "s": [k[0] for k in ordered], "d": [k[1] for k in ordered]},
    )
    return {(r.student_id, r.day): r.sent for r in rows}


async def add_sent_many(session: AsyncConnection, added: dict[tuple[str, date], int]) -> None:
    """add_sent for several (student, day) rows, one statement."""
    if not added:
        return
    keys = sorted(added)
    await run_sql(
        session,
        "UPDATE interventions.student_days d SET sent = d.sent + q.n "
        "FROM unnest(%(s)b::text[], %(d)b::date[], %(n)b::int[]) AS q(student_id, day, n) "
        "WHERE d.student_id = q.student_id AND d.day = q.day",
        {"s": [k[0] for k in keys], "d": [k[1] for k in keys], "n": [added[k] for k in keys]},
    )


async def last_sent_many(
    session: AsyncConnection, student_ids: Sequence[str]
) -> dict[str, dict[str, datetime]]:
    """last_sent for several students, one statement."""
    found: dict[str, dict[str, datetime]] = {s: {} for s in student_ids}
    if not student_ids:
        return found
    rows = await run_sql(
        session,
        "SELECT student_id, intervention, max(signal_occurred_at) FROM interventions.decisions "
        "WHERE student_id = ANY(%(ids)b::text[]) AND status = 'sent' GROUP BY student_id, intervention",
        {"ids": sorted(set(student_ids))},
    )
    for student, intervention, at in rows:
        found[student][intervention] = at
    return found


# The facts a `repeated` condition may compare (policy.schema.json: same), as column names.
REPEAT_FACTS = ("topic", "key", "error")
# One statement per fact; the column name comes from the constant tuple above, never from input.
_REPEATS = {
    fact: (
        "SELECT q.i, count(s.id) AS n FROM unnest(%(i)b::int[], %(student)b::text[], "  # noqa: S608
        "%(kind)b::text[], %(value)b::text[], %(since)b::timestamptz[], "
        "%(until)b::timestamptz[]) AS q(i, student_id, kind, value, since, until) "
        "LEFT JOIN interventions.signals s ON s.student_id = q.student_id AND s.kind = q.kind "
        f"AND s.{fact} = q.value AND s.occurred_at >= q.since AND s.occurred_at <= q.until "
        "GROUP BY q.i"
    )
    for fact in REPEAT_FACTS
}


async def count_repeats_many(
    session: AsyncConnection, fact: str, queries: Sequence[tuple[str, str, str, datetime, datetime]]
) -> list[int]:
    """count_repeats for several (student, kind, value, since, until) at once, in their order: one
    statement per fact, whatever the batch size."""
    if fact not in REPEAT_FACTS:
        raise ValueError(f"{fact!r} is not a fact a repeated condition compares")
    if not queries:
        return []
    rows = await run_sql(
        session,
        _REPEATS[fact],
        {
            "i": list(range(len(queries))),
            "student": [q[0] for q in queries],
            "kind": [q[1] for q in queries],
            "value": [q[2] for q in queries],
            "since": [q[3] for q in queries],
            "until": [q[4] for q in queries],
        },
    )
    counts: dict[int, int] = {int(r[0]): int(r[1]) for r in rows}
    return [int(counts[i]) for i in range(len(queries))]


async def insert_signals(session: AsyncConnection, rows: Sequence[tuple[Signal, str, str]]) -> set[str]:
    """Stores (signal, time zone, student name) rows in one statement; the ids stored (a source stored
    meanwhile is skipped, as insert_signal does)."""
    if not rows:
        return set()
    values = [
        {
            "id": uuid.UUID(s.id),
            "tenant_id": s.tenant_id,
            "student_id": s.student_id,
            "kind": s.kind,
            "source": s.source or s.id,
            "occurred_at": s.occurred_at,
            "topic": s.topic,
            "key": s.key,
            "rule": s.rule,
            "error": s.error,
            "severity": s.severity,
            "verdict": s.verdict,
            "minutes": s.minutes,
            "count": s.count,
            "explanation": s.explanation,
            "teacher_ids": list(s.teacher_ids),
            "time_zone": tz,
            "student_name": name,
        }
        for s, tz, name in rows
    ]
    stored = await insert_many(
        session, signals, values, on_conflict="ON CONFLICT ON CONSTRAINT uq_signals_source DO NOTHING"
    )
    return {str(r.id) for r in stored}


# --- work sessions (service.track_work) ------------------------------------------------------------------


async def lock_work_sessions(
    session: AsyncConnection, tenant_id: str, first: dict[str, datetime]
) -> dict[str, WorkSession]:
    """Each student's work session, locked until the transaction ends, in one order (student id) so
    concurrent batches cannot deadlock. A student without one gets a session starting at `first`
    (their earliest activity of the batch) — inserted, so a concurrent batch for the same student
    waits for this one and then reads what it wrote."""
    ordered = sorted(first)
    if not ordered:
        return {}
    # One statement: a row that exists is locked by the no-op update on conflict (so a concurrent
    # batch waits, then reads what this one wrote), a new one is inserted; either comes back.
    rows = await run_sql(
        session,
        "INSERT INTO interventions.work_sessions (tenant_id, student_id, session_id, started_at, "
        "last_activity_at, signalled) SELECT %(tenant)s::uuid, s, i, f, f, '[]'::json "
        "FROM unnest(%(s)b::text[], %(i)b::uuid[], %(f)b::timestamptz[]) AS q(s, i, f) "
        "ORDER BY s ON CONFLICT (tenant_id, student_id) DO UPDATE SET tenant_id = excluded.tenant_id "
        "RETURNING student_id, session_id, started_at, last_activity_at, signalled",
        {
            "tenant": tenant_id,
            "s": ordered,
            "i": [uuid.uuid4() for _ in ordered],
            "f": [first[s] for s in ordered],
        },
    )
    return {
        r.student_id: WorkSession(
            str(r.session_id), r.started_at, r.last_activity_at, tuple(float(t) for t in r.signalled)
        )
        for r in rows
    }


async def save_work_sessions(session: AsyncConnection, changed: dict[str, WorkSession]) -> None:
    """The batch's updated sessions, one statement."""
    if not changed:
        return
    keys = sorted(changed)
    await run_sql(
        session,
        "UPDATE interventions.work_sessions w SET session_id = q.session_id, started_at = q.started_at, "
        "last_activity_at = q.last_activity_at, signalled = q.signalled::json "
        "FROM unnest(%(s)b::text[], %(i)b::uuid[], %(a)b::timestamptz[], "
        "%(b)b::timestamptz[], %(t)b::text[]) "
        "AS q(student_id, session_id, started_at, last_activity_at, signalled) "
        "WHERE w.student_id = q.student_id",
        {
            "s": keys,
            "i": [uuid.UUID(changed[k].session_id) for k in keys],
            "a": [changed[k].started_at for k in keys],
            "b": [changed[k].last_activity_at for k in keys],
            "t": [json.dumps(list(changed[k].signalled)) for k in keys],
        },
    )
