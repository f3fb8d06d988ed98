"""mtss's queries (SQLAlchemy Core). Each takes the unit of work's connection, whose transaction
is scoped to the caller's tenant (row-level security), and returns domain objects; the intervention's
JSON `config` is decoded here."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.mtss.domain.conflicts import Booking
from services.mtss.domain.programs import (
    COMMUNICATION_ORDER,
    Attendance,
    Communication,
    Enrollment,
    ExitCriteria,
    GoalSpec,
    Intervention,
    ProgressEntry,
    Session,
)
from services.mtss.domain.schedule import MAX_DURATION, Schedule
from services.mtss.tables import (
    attendance,
    caregiver_links,
    communications,
    enrollments,
    interventions,
    progress_entries,
    sessions,
)
from services.runtime.db import parse_uuid
from services.runtime.events.envelope import build_headers
from services.runtime.events.outbox import Outbox

# --- interventions --------------------------------------------------------------------------------


def _config(i: Intervention) -> dict[str, Any]:
    s = i.schedule
    return {
        "objectives": list(i.objectives),
        "target_population": i.target_population,
        "facilitator_ids": list(i.facilitator_ids),
        "room": i.room,
        "goal": {
            "measure": i.goal.measure,
            "baseline": i.goal.baseline,
            "target": i.goal.target,
            "goal_date": i.goal.goal_date.isoformat(),
        },
        "minutes_per_week": i.minutes_per_week,
        "intervention_class": i.intervention_class,
        "delivery_method": i.delivery_method,
        "exit": {"points_at_goal": i.exit.points_at_goal, "min_weeks": i.exit.min_weeks},
        "schedule": {
            "rrule": s.rrule,
            "start_time": s.start_time.strftime("%H:%M"),
            "duration_minutes": s.duration_minutes,
            "time_zone": s.time_zone,
            "holidays": [d.isoformat() for d in s.holidays],
            "exceptions": [d.isoformat() for d in s.exceptions],
            "extra_dates": [d.isoformat() for d in s.extra_dates],
        },
    }


def _intervention(row: Any) -> Intervention:
    c = row.config
    g, s, e = c["goal"], c["schedule"], c["exit"]
    return Intervention(
        id=str(row.id),
        tenant_id=str(row.tenant_id),
        code=row.code,
        name=row.name,
        objectives=tuple(c["objectives"]),
        target_population=c["target_population"],
        owner_id=row.owner_id,
        facilitator_ids=tuple(c["facilitator_ids"]),
        room=c["room"],
        goal=GoalSpec(g["measure"], g["baseline"], g["target"], date.fromisoformat(g["goal_date"])),
        minutes_per_week=c["minutes_per_week"],
        begin_date=row.begin_date,
        end_date=row.end_date,
        schedule=Schedule(
            rrule=s["rrule"],
            start_time=time.fromisoformat(s["start_time"]),
            duration_minutes=s["duration_minutes"],
            time_zone=s["time_zone"],
            holidays=tuple(date.fromisoformat(d) for d in s["holidays"]),
            exceptions=tuple(date.fromisoformat(d) for d in s["exceptions"]),
            extra_dates=tuple(date.fromisoformat(d) for d in s["extra_dates"]),
        ),
        template_key=row.template_key,
        template_version=row.template_version,
        intervention_class=c["intervention_class"],
        delivery_method=c["delivery_method"],
        exit=ExitCriteria(e["points_at_goal"], e["min_weeks"]),
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def insert_intervention(session: AsyncConnection, i: Intervention) -> Intervention | None:
    """None when the tenant already has an intervention with this code."""
    row = (
        await session.execute(
            pg_insert(interventions)
            .values(
                id=uuid.UUID(i.id),
                tenant_id=uuid.UUID(i.tenant_id),
                code=i.code,
                name=i.name,
                owner_id=i.owner_id,
                template_key=i.template_key,
                template_version=i.template_version,
                begin_date=i.begin_date,
                end_date=i.end_date,
                config=_config(i),
                created_by=i.created_by,
            )
            .on_conflict_do_nothing(constraint="uq_interventions_tenant_code")
            .returning(*interventions.c)
        )
    ).first()
    return _intervention(row) if row else None


# The intervention and its sessions in one statement (one round trip): the sessions' INSERT runs only
# when the intervention's did (a code the tenant has already inserts nothing), and the foreign key is
# checked at the end of the statement, when the intervention's row is there. The sessions' columns
# come as comma-joined text that PostgreSQL splits and casts (string_to_array): psycopg dumps a
# Python list element by element, with a regular expression each for quoting, which cost more CPU
# than the rest of the creation (bench/mtss_year.py, docs/performance.md). Room, facilitator and
# status are one value for all of a new intervention's sessions.
_INSERT_WITH_SESSIONS = sa.text(
    """
    WITH i AS (
        INSERT INTO mtss.interventions
            (id, tenant_id, code, name, owner_id, template_key, template_version, begin_date, end_date,
             config, created_by)
        VALUES (CAST(:intervention AS uuid), CAST(:tenant AS uuid), :code, :name, :owner_id, :template_key,
                :template_version, :begin_date, :end_date, CAST(:config AS jsonb), :created_by)
        ON CONFLICT ON CONSTRAINT uq_interventions_tenant_code DO NOTHING
        RETURNING *
    ), s AS (
        INSERT INTO mtss.sessions
            (id, tenant_id, intervention_id, starts_at, ends_at, local_date, room, facilitator_id, status,
             note)
        SELECT s.id, i.tenant_id, i.id, s.starts_at, s.ends_at, s.local_date, :room, :facilitator,
               :status, ''
        FROM i, unnest(CAST(string_to_array(:ids, ',') AS uuid[]),
                       CAST(string_to_array(:starts, ',') AS timestamptz[]),
                       CAST(string_to_array(:ends, ',') AS timestamptz[]),
                       CAST(string_to_array(:dates, ',') AS date[]))
            AS s(id, starts_at, ends_at, local_date)
    )
    SELECT * FROM i
    """
)


def _joined(values: Iterable[object]) -> str:
    """Values without commas (uuids, ISO dates and instants) as one text parameter."""
    return ",".join(v.isoformat() if isinstance(v, date) else str(v) for v in values)


async def insert_intervention_with_sessions(
    session: AsyncConnection, i: Intervention, made: list[Session]
) -> Intervention | None:
    """insert_intervention and insert_sessions in one round trip; None (and no session stored) when
    the tenant already has an intervention with this code. The sessions are a new intervention's:
    one room, one facilitator, scheduled, no note."""
    if len({(s.room, s.facilitator_id, s.status, s.note) for s in made}) > 1:
        raise ValueError("a new intervention's sessions share room, facilitator and status")
    room, facilitator, status = (
        (made[0].room, made[0].facilitator_id, made[0].status) if made else ("", "", "")
    )
    row = (
        await session.execute(
            _INSERT_WITH_SESSIONS,
            {
                "intervention": i.id,
                "tenant": i.tenant_id,
                "code": i.code,
                "name": i.name,
                "owner_id": i.owner_id,
                "template_key": i.template_key,
                "template_version": i.template_version,
                "begin_date": i.begin_date,
                "end_date": i.end_date,
                "config": json.dumps(_config(i)),
                "created_by": i.created_by,
                "room": room,
                "facilitator": facilitator,
                "status": status,
                "ids": _joined(s.id for s in made),
                "starts": _joined(s.starts_at for s in made),
                "ends": _joined(s.ends_at for s in made),
                "dates": _joined(s.local_date for s in made),
            },
        )
    ).first()
    return _intervention(row) if row else None


async def stage_events(outbox: Outbox, session: AsyncConnection, events: list[tuple[str, Any, str]]) -> None:
    """Several (subject, message, tenant) outbox rows in one INSERT: what Outbox.stage writes one
    row at a time (the same headers, build_headers), for a use case that stages its event and its
    audit record together and wants one round trip for both. The messages are protobuf messages
    (convert.py and runtime/audit.py make them); typed Any so the store imports no generated code."""
    rows = []
    for subject, message, tenant_id in events:
        headers = build_headers(message, source=outbox.context, tenant_id=tenant_id)
        rows.append(
            {
                "event_id": headers["ce-id"],
                "subject": subject,
                "event_type": headers["ce-type"],
                "payload": message.SerializeToString(),
                "headers": headers,
            }
        )
    if rows:
        await session.execute(sa.insert(outbox.table), rows)


async def update_intervention(session: AsyncConnection, i: Intervention) -> Intervention:
    row = (
        await session.execute(
            sa.update(interventions)
            .where(interventions.c.id == uuid.UUID(i.id))
            .values(
                name=i.name,
                owner_id=i.owner_id,
                template_version=i.template_version,
                config=_config(i),
                updated_at=sa.func.now(),
            )
            .returning(*interventions.c)
        )
    ).one()
    return _intervention(row)


async def get_intervention(
    session: AsyncConnection, intervention_id: str, *, lock: bool = False
) -> Intervention | None:
    found = parse_uuid(intervention_id)
    if found is None:
        return None
    query = sa.select(interventions).where(interventions.c.id == found)
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    return _intervention(row) if row else None


async def list_interventions(session: AsyncConnection) -> list[Intervention]:
    rows = (await session.execute(sa.select(interventions).order_by(interventions.c.code))).all()
    return [_intervention(r) for r in rows]


async def page_interventions(
    session: AsyncConnection, *, query: str, limit: int, after: tuple[str, str] | None
) -> list[tuple[Intervention, int]]:
    """The tenant's interventions by (code, id) after `after`, with their session counts; `query` is
    matched case-insensitively in the code or the name (LIKE's wildcards in it are literal)."""
    q = sa.select(interventions)
    if query:
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        q = q.where(sa.or_(interventions.c.code.ilike(pattern), interventions.c.name.ilike(pattern)))
    if after is not None:
        q = q.where(
            sa.tuple_(interventions.c.code, interventions.c.id)
            > sa.tuple_(sa.literal(after[0]), sa.literal(uuid.UUID(after[1])))
        )
    rows = (await session.execute(q.order_by(interventions.c.code, interventions.c.id).limit(limit))).all()
    counts: dict[uuid.UUID, int] = {}
    if rows:
        grouped = (
            sa.select(sessions.c.intervention_id, sa.func.count())
            .where(sessions.c.intervention_id.in_([r.id for r in rows]))
            .group_by(sessions.c.intervention_id)
        )
        counts = {i: int(n) for i, n in (await session.execute(grouped)).all()}
    return [(_intervention(r), counts.get(r.id, 0)) for r in rows]


async def count_sessions(session: AsyncConnection, intervention_id: str) -> int:
    q = sa.select(sa.func.count()).where(sessions.c.intervention_id == uuid.UUID(intervention_id))
    return int((await session.execute(q)).scalar_one())


# --- sessions -------------------------------------------------------------------------------------


def _session(row: Any) -> Session:
    return Session(
        id=str(row.id),
        intervention_id=str(row.intervention_id),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        local_date=row.local_date,
        room=row.room,
        facilitator_id=row.facilitator_id,
        status=row.status,
        note=row.note,
    )


_INSERT_SESSIONS = sa.text(
    """
    INSERT INTO mtss.sessions
        (id, tenant_id, intervention_id, starts_at, ends_at, local_date, room, facilitator_id, status, note)
    SELECT id, CAST(:tenant AS uuid), CAST(:intervention AS uuid), starts_at, ends_at, local_date, room,
           facilitator_id, status, note
    FROM unnest(CAST(:ids AS uuid[]), CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[]),
                CAST(:dates AS date[]), CAST(:rooms AS text[]), CAST(:facilitators AS text[]),
                CAST(:statuses AS text[]), CAST(:notes AS text[]))
        AS s(id, starts_at, ends_at, local_date, room, facilitator_id, status, note)
    """
)


async def insert_sessions(session: AsyncConnection, tenant_id: str, made: list[Session]) -> None:
    """All of an intervention's sessions in one statement: arrays unnested by PostgreSQL, so a year
    of sessions is one round trip and one plan, not 108 (bench/mtss_year.py)."""
    if not made:
        return
    by_intervention: dict[str, list[Session]] = defaultdict(list)
    for s in made:
        by_intervention[s.intervention_id].append(s)
    for intervention_id, group in by_intervention.items():
        await session.execute(
            _INSERT_SESSIONS,
            {
                "tenant": tenant_id,
                "intervention": intervention_id,
                "ids": [s.id for s in group],
                "starts": [s.starts_at for s in group],
                "ends": [s.ends_at for s in group],
                "dates": [s.local_date for s in group],
                "rooms": [s.room for s in group],
                "facilitators": [s.facilitator_id for s in group],
                "statuses": [s.status for s in group],
                "notes": [s.note for s in group],
            },
        )


async def list_sessions(session: AsyncConnection, intervention_id: str) -> list[Session]:
    q = (
        sa.select(sessions)
        .where(sessions.c.intervention_id == uuid.UUID(intervention_id))
        .order_by(sessions.c.starts_at, sessions.c.id)
    )
    return [_session(r) for r in (await session.execute(q)).all()]


async def get_session(session: AsyncConnection, session_id: str, *, lock: bool = False) -> Session | None:
    found = parse_uuid(session_id)
    if found is None:
        return None
    query = sa.select(sessions).where(sessions.c.id == found)
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    return _session(row) if row else None


async def update_session(session: AsyncConnection, s: Session) -> Session:
    row = (
        await session.execute(
            sa.update(sessions)
            .where(sessions.c.id == uuid.UUID(s.id))
            .values(
                starts_at=s.starts_at,
                ends_at=s.ends_at,
                local_date=s.local_date,
                room=s.room,
                facilitator_id=s.facilitator_id,
                status=s.status,
                note=s.note,
            )
            .returning(*sessions.c)
        )
    ).one()
    return _session(row)


async def reassign_upcoming(
    session: AsyncConnection, intervention_id: str, after: datetime, from_id: str, to_id: str
) -> list[Session]:
    """Gives the intervention's scheduled sessions starting after `after` to `to_id` (only those of
    `from_id` when it is given); earlier sessions and their attendance are not touched."""
    q = (
        sa.update(sessions)
        .where(
            sessions.c.intervention_id == uuid.UUID(intervention_id),
            sessions.c.starts_at > after,
            sessions.c.status == "scheduled",
        )
        .values(facilitator_id=to_id)
        .returning(*sessions.c)
    )
    if from_id:
        q = q.where(sessions.c.facilitator_id == from_id)
    return [_session(r) for r in (await session.execute(q)).all()]


async def active_students(
    session: AsyncConnection, intervention_ids: Iterable[str]
) -> dict[str, frozenset[str]]:
    ids = [uuid.UUID(i) for i in set(intervention_ids)]
    if not ids:
        return {}
    q = sa.select(enrollments.c.intervention_id, enrollments.c.student_id).where(
        enrollments.c.intervention_id.in_(ids), enrollments.c.status == "active"
    )
    out: dict[str, set[str]] = defaultdict(set)
    for row in (await session.execute(q)).all():
        out[str(row.intervention_id)].add(row.student_id)
    return {k: frozenset(v) for k, v in out.items()}


async def bookings(
    session: AsyncConnection,
    start: datetime,
    end: datetime,
    *,
    rooms: Iterable[str] = (),
    facilitators: Iterable[str] = (),
    students: Iterable[str] = (),
    everything: bool = False,
    with_students: bool = True,
    limit: int | None = None,
) -> list[Booking]:
    """The scheduled sessions overlapping [start, end) that could conflict: those in one of `rooms`,
    led by one of `facilitators`, or of an intervention one of `students` is enrolled in (or all of
    them with `everything`), each with its enrolled students (unless `with_students` is False: a
    check of rooms and facilitators only, as on create, needs no enrollments). With `limit`, at most
    limit + 1 of them, the earliest: more than `limit` tells the caller the range is too full."""
    q = sa.select(
        sessions.c.id,
        sessions.c.intervention_id,
        sessions.c.starts_at,
        sessions.c.ends_at,
        sessions.c.room,
        sessions.c.facilitator_id,
    ).where(
        sessions.c.starts_at < end,
        sessions.c.ends_at > start,
        # Implied (no session is longer than MAX_DURATION), and it bounds the (tenant, ends_at) range.
        sessions.c.ends_at < end + timedelta(minutes=MAX_DURATION),
        sessions.c.status == "scheduled",
    )
    if not everything:
        wanted = []
        room_list = [r.lower() for r in rooms if r]
        if room_list:
            wanted.append(sessions.c.room_key.in_(room_list))
        fac_list = [f for f in facilitators if f]
        if fac_list:
            wanted.append(sessions.c.facilitator_id.in_(fac_list))
        student_list = list(students)
        if student_list:
            wanted.append(
                sessions.c.intervention_id.in_(
                    sa.select(enrollments.c.intervention_id).where(
                        enrollments.c.student_id.in_(student_list), enrollments.c.status == "active"
                    )
                )
            )
        if not wanted:
            return []
        q = q.where(sa.or_(*wanted))
    if limit is not None:
        q = q.order_by(sessions.c.starts_at, sessions.c.id).limit(limit + 1)
    rows = (await session.execute(q)).all()
    enrolled = await active_students(session, (str(r.intervention_id) for r in rows)) if with_students else {}
    return [
        Booking(
            session_id=str(r.id),
            starts_at=r.starts_at,
            ends_at=r.ends_at,
            room=r.room,
            facilitator_id=r.facilitator_id,
            student_ids=enrolled.get(str(r.intervention_id), frozenset()),
        )
        for r in rows
    ]


# One index probe per window and resource: LATERAL makes the windows drive the probes, and each
# branch is an equality prefix plus a range on starts_at, (tenant_id, room_key, starts_at) for the
# room and (tenant_id, facilitator_id, starts_at) for the facilitator. Both are leakproof text
# equalities, so row-level security lets them be index conditions (lower(room) was not: see
# db/mtss/versions/20261206_0002_room_key.py). A branch whose value is NULL finds nothing.
_NEAR = sa.text(
    """
    SELECT DISTINCT s.id, s.starts_at, s.ends_at, s.room, s.facilitator_id
    FROM unnest(CAST(string_to_array(:starts, ',') AS timestamptz[]),
                CAST(string_to_array(:ends, ',') AS timestamptz[])) AS w(ws, we)
    CROSS JOIN LATERAL (
        SELECT r.id, r.starts_at, r.ends_at, r.room, r.facilitator_id, r.status
        FROM mtss.sessions r
        WHERE r.tenant_id = CAST(:tenant AS uuid) AND r.room_key = CAST(:room AS text)
          AND r.starts_at < w.we AND r.starts_at > w.ws - make_interval(mins => :longest)
        UNION ALL
        SELECT f.id, f.starts_at, f.ends_at, f.room, f.facilitator_id, f.status
        FROM mtss.sessions f
        WHERE f.tenant_id = CAST(:tenant AS uuid) AND f.facilitator_id = CAST(:facilitator AS text)
          AND f.starts_at < w.we AND f.starts_at > w.ws - make_interval(mins => :longest)
    ) s
    WHERE s.status = 'scheduled' AND s.ends_at > w.ws
    """
)


async def room_and_facilitator_bookings(
    session: AsyncConnection,
    tenant_id: str,
    windows: list[tuple[datetime, datetime]],
    *,
    room: str,
    facilitator: str,
    longest_minutes: int,
) -> list[Booking]:
    """The scheduled sessions in `room` or led by `facilitator` overlapping any of `windows` (without
    their students: what a new intervention's sessions are checked against), in one statement. No
    session lasts longer than `longest_minutes`, so a session overlapping a window starts in
    (window start - longest, window end): one short range of the room's index and one of the
    facilitator's per window, a few rows each, however large the tenant's year (_NEAR)."""
    if not windows or not (room or facilitator):
        return []
    rows = (
        await session.execute(
            _NEAR,
            {
                # Joined text, not lists: see _INSERT_WITH_SESSIONS.
                "starts": _joined(w[0] for w in windows),
                "ends": _joined(w[1] for w in windows),
                "tenant": tenant_id,
                "longest": longest_minutes,
                "room": room.lower() if room else None,
                "facilitator": facilitator or None,
            },
        )
    ).all()
    return [Booking(str(r.id), r.starts_at, r.ends_at, r.room, r.facilitator_id) for r in rows]


async def session_count_in(session: AsyncConnection, start: datetime, end: datetime) -> int:
    q = sa.select(sa.func.count()).where(
        sessions.c.starts_at < end, sessions.c.ends_at > start, sessions.c.status == "scheduled"
    )
    return int((await session.execute(q)).scalar_one())


async def sessions_of_user(session: AsyncConnection, user_id: str) -> list[tuple[Session, str]]:
    """The scheduled sessions a user facilitates or is enrolled in, with the intervention's name."""
    enrolled = sa.select(enrollments.c.intervention_id).where(
        enrollments.c.student_id == user_id, enrollments.c.status == "active"
    )
    q = (
        sa.select(sessions, interventions.c.name.label("intervention_name"))
        .join(interventions, interventions.c.id == sessions.c.intervention_id)
        .where(
            sessions.c.status == "scheduled",
            sa.or_(sessions.c.facilitator_id == user_id, sessions.c.intervention_id.in_(enrolled)),
        )
        .order_by(sessions.c.starts_at)
    )
    return [(_session(r), r.intervention_name) for r in (await session.execute(q)).all()]


# --- enrollments ----------------------------------------------------------------------------------


def _enrollment(row: Any) -> Enrollment:
    return Enrollment(
        id=str(row.id),
        intervention_id=str(row.intervention_id),
        student_id=row.student_id,
        source=row.source,
        reason=row.reason,
        enrolled_by=row.enrolled_by,
        enrolled_at=row.enrolled_at,
        begin_date=row.begin_date,
        end_date=row.end_date,
        status=row.status,
        exit_confirmed_by=row.exit_confirmed_by,
        exit_confirmed_at=row.exit_confirmed_at,
        exit_reason=row.exit_reason,
    )


async def insert_enrollments(
    session: AsyncConnection, tenant_id: str, new: list[Enrollment]
) -> list[Enrollment]:
    """Inserts the enrollments; a student already in the intervention is skipped (not returned)."""
    if not new:
        return []
    tenant = uuid.UUID(tenant_id)
    rows = (
        await session.execute(
            pg_insert(enrollments)
            .values(
                [
                    {
                        "id": uuid.UUID(e.id),
                        "tenant_id": tenant,
                        "intervention_id": uuid.UUID(e.intervention_id),
                        "student_id": e.student_id,
                        "source": e.source,
                        "reason": e.reason,
                        "enrolled_by": e.enrolled_by,
                        "begin_date": e.begin_date,
                        "status": e.status,
                    }
                    for e in new
                ]
            )
            .on_conflict_do_nothing(constraint="uq_enrollments_intervention_student")
            .returning(*enrollments.c)
        )
    ).all()
    return [_enrollment(r) for r in rows]


async def enrolled_elsewhere(
    session: AsyncConnection, intervention_id: str, student_ids: list[str]
) -> list[str]:
    """Those of `student_ids` actively enrolled in an intervention other than this one."""
    if not student_ids:
        return []
    q = (
        sa.select(enrollments.c.student_id)
        .where(
            enrollments.c.student_id.in_(student_ids),
            enrollments.c.status == "active",
            enrollments.c.intervention_id != uuid.UUID(intervention_id),
        )
        .distinct()
    )
    return sorted(r[0] for r in (await session.execute(q)).all())


async def get_enrollment(
    session: AsyncConnection, intervention_id: str, student_id: str
) -> Enrollment | None:
    row = (
        await session.execute(
            sa.select(enrollments).where(
                enrollments.c.intervention_id == uuid.UUID(intervention_id),
                enrollments.c.student_id == student_id,
            )
        )
    ).first()
    return _enrollment(row) if row else None


async def list_enrollments(session: AsyncConnection, intervention_id: str | None = None) -> list[Enrollment]:
    q = sa.select(enrollments).order_by(enrollments.c.enrolled_at, enrollments.c.student_id)
    if intervention_id is not None:
        q = q.where(enrollments.c.intervention_id == uuid.UUID(intervention_id))
    return [_enrollment(r) for r in (await session.execute(q)).all()]


async def update_enrollment(session: AsyncConnection, e: Enrollment) -> Enrollment:
    row = (
        await session.execute(
            sa.update(enrollments)
            .where(enrollments.c.id == uuid.UUID(e.id))
            .values(
                status=e.status,
                end_date=e.end_date,
                exit_confirmed_by=e.exit_confirmed_by,
                exit_confirmed_at=e.exit_confirmed_at,
                exit_reason=e.exit_reason,
            )
            .returning(*enrollments.c)
        )
    ).one()
    return _enrollment(row)


# --- attendance and progress ----------------------------------------------------------------------


def _attendance(row: Any) -> Attendance:
    return Attendance(
        session_id=str(row.session_id),
        student_id=row.student_id,
        status=row.status,
        minutes=row.minutes,
        reason_code=row.reason_code,
        note=row.note,
        recorded_by=row.recorded_by,
        recorded_at=row.recorded_at,
    )


async def upsert_attendance(
    session: AsyncConnection, tenant_id: str, intervention_id: str, records: list[Attendance]
) -> list[Attendance]:
    """A correction replaces the earlier record of the same session and student."""
    stmt = pg_insert(attendance).values(
        [
            {
                "session_id": uuid.UUID(a.session_id),
                "student_id": a.student_id,
                "tenant_id": uuid.UUID(tenant_id),
                "intervention_id": uuid.UUID(intervention_id),
                "status": a.status,
                "minutes": a.minutes,
                "reason_code": a.reason_code,
                "note": a.note,
                "recorded_by": a.recorded_by,
            }
            for a in records
        ]
    )
    upsert = stmt.on_conflict_do_update(
        index_elements=[attendance.c.session_id, attendance.c.student_id],
        set_={
            "status": stmt.excluded.status,
            "minutes": stmt.excluded.minutes,
            "reason_code": stmt.excluded.reason_code,
            "note": stmt.excluded.note,
            "recorded_by": stmt.excluded.recorded_by,
            "recorded_at": sa.func.now(),
        },
    ).returning(*attendance.c)
    return [_attendance(r) for r in (await session.execute(upsert)).all()]


async def list_attendance(session: AsyncConnection, intervention_id: str | None = None) -> list[Attendance]:
    q = sa.select(attendance).order_by(attendance.c.recorded_at, attendance.c.student_id)
    if intervention_id is not None:
        q = q.where(attendance.c.intervention_id == uuid.UUID(intervention_id))
    return [_attendance(r) for r in (await session.execute(q)).all()]


async def stream_attendance_for_export(
    session: AsyncConnection, chunk: int = 2000
) -> AsyncIterator[tuple[str, Session, Attendance]]:
    """Every attendance record of the transaction's tenant with its intervention's code and its
    session, ordered as the Ed-Fi export lists them (code, session start, student; byte order, so
    PostgreSQL's collation and Python's sort agree), read through a server-side cursor in chunks: a
    year of attendance never sits in memory at once."""
    q = (
        sa.select(
            interventions.c.code,
            *sessions.c,
            attendance.c.student_id.label("a_student_id"),
            attendance.c.status.label("a_status"),
            attendance.c.minutes.label("a_minutes"),
            attendance.c.reason_code.label("a_reason_code"),
            attendance.c.note.label("a_note"),
            attendance.c.recorded_by.label("a_recorded_by"),
            attendance.c.recorded_at.label("a_recorded_at"),
        )
        .select_from(
            attendance.join(sessions, sessions.c.id == attendance.c.session_id).join(
                interventions, interventions.c.id == sessions.c.intervention_id
            )
        )
        .order_by(
            interventions.c.code.collate("C"),
            sessions.c.starts_at,
            attendance.c.student_id.collate("C"),
        )
        .execution_options(yield_per=chunk)
    )
    result = await session.stream(q)
    async for rows in result.partitions():
        for r in rows:
            yield (
                r.code,
                _session(r),
                Attendance(
                    session_id=str(r.id),
                    student_id=r.a_student_id,
                    status=r.a_status,
                    minutes=r.a_minutes,
                    reason_code=r.a_reason_code,
                    note=r.a_note,
                    recorded_by=r.a_recorded_by,
                    recorded_at=r.a_recorded_at,
                ),
            )


async def attendance_totals(
    session: AsyncConnection, intervention_id: str
) -> dict[str, tuple[int, int, int]]:
    """Per student: (sessions with a record, sessions attended, minutes delivered)."""
    attended = attendance.c.status.in_(("present", "tardy"))
    q = (
        sa.select(
            attendance.c.student_id,
            sa.func.count(),
            sa.func.count().filter(attended),
            sa.func.coalesce(sa.func.sum(attendance.c.minutes).filter(attended), 0),
        )
        .where(attendance.c.intervention_id == uuid.UUID(intervention_id))
        .group_by(attendance.c.student_id)
    )
    return {r[0]: (int(r[1]), int(r[2]), int(r[3])) for r in (await session.execute(q)).all()}


async def session_status_counts(
    session: AsyncConnection, intervention_id: str, now: datetime
) -> tuple[int, int]:
    """(scheduled sessions already started, scheduled sessions still to come)."""
    q = sa.select(
        sa.func.count().filter(sessions.c.starts_at <= now),
        sa.func.count().filter(sessions.c.starts_at > now),
    ).where(sessions.c.intervention_id == uuid.UUID(intervention_id), sessions.c.status == "scheduled")
    held, upcoming = (await session.execute(q)).one()
    return int(held), int(upcoming)


def _progress(row: Any) -> ProgressEntry:
    return ProgressEntry(
        id=str(row.id),
        intervention_id=str(row.intervention_id),
        student_id=row.student_id,
        on=row.on_date,
        score=row.score,
        rating=row.rating,
        note=row.note,
        recorded_by=row.recorded_by,
        recorded_at=row.recorded_at,
        session_id=row.session_id,
    )


async def list_scores(session: AsyncConnection, intervention_id: str) -> list[ProgressEntry]:
    """The dated scores of an intervention's students, chronological: what the group dashboard needs
    (notes and ratings are left out, so a year of entries reads in one narrow scan)."""
    q = (
        sa.select(progress_entries.c.student_id, progress_entries.c.on_date, progress_entries.c.score)
        .where(
            progress_entries.c.intervention_id == uuid.UUID(intervention_id),
            progress_entries.c.score.is_not(None),
        )
        .order_by(progress_entries.c.on_date, progress_entries.c.recorded_at)
    )
    return [
        ProgressEntry(
            id="",
            intervention_id=intervention_id,
            student_id=r[0],
            on=r[1],
            score=r[2],
            rating=0,
            note="",
            recorded_by="",
        )
        for r in (await session.execute(q)).all()
    ]


async def insert_progress(session: AsyncConnection, tenant_id: str, p: ProgressEntry) -> ProgressEntry:
    row = (
        await session.execute(
            sa.insert(progress_entries)
            .values(
                id=uuid.UUID(p.id),
                tenant_id=uuid.UUID(tenant_id),
                intervention_id=uuid.UUID(p.intervention_id),
                student_id=p.student_id,
                on_date=p.on,
                score=p.score,
                rating=p.rating,
                note=p.note,
                session_id=p.session_id,
                recorded_by=p.recorded_by,
            )
            .returning(*progress_entries.c)
        )
    ).one()
    return _progress(row)


async def list_progress(
    session: AsyncConnection, intervention_id: str, student_id: str | None = None
) -> list[ProgressEntry]:
    """Chronological: by date, then by when it was recorded."""
    q = (
        sa.select(progress_entries)
        .where(progress_entries.c.intervention_id == uuid.UUID(intervention_id))
        .order_by(progress_entries.c.on_date, progress_entries.c.recorded_at, progress_entries.c.id)
    )
    if student_id is not None:
        q = q.where(progress_entries.c.student_id == student_id)
    return [_progress(r) for r in (await session.execute(q)).all()]


# --- caregivers and communications ----------------------------------------------------------------


async def link_caregiver(
    session: AsyncConnection, tenant_id: str, caregiver_id: str, student_id: str, by: str
) -> bool:
    """False when the link existed already."""
    row = (
        await session.execute(
            pg_insert(caregiver_links)
            .values(
                caregiver_id=caregiver_id,
                student_id=student_id,
                tenant_id=uuid.UUID(tenant_id),
                created_by=by,
            )
            .on_conflict_do_nothing()
            .returning(caregiver_links.c.caregiver_id)
        )
    ).first()
    return row is not None


async def caregivers_of(session: AsyncConnection, student_id: str) -> list[str]:
    q = sa.select(caregiver_links.c.caregiver_id).where(caregiver_links.c.student_id == student_id)
    return sorted(r[0] for r in (await session.execute(q)).all())


async def is_linked(session: AsyncConnection, caregiver_id: str, student_id: str) -> bool:
    q = sa.select(sa.literal(1)).where(
        caregiver_links.c.caregiver_id == caregiver_id, caregiver_links.c.student_id == student_id
    )
    return (await session.execute(q)).first() is not None


def _communication(row: Any) -> Communication:
    return Communication(
        id=str(row.id),
        intervention_id=str(row.intervention_id),
        student_id=row.student_id,
        caregiver_id=row.caregiver_id,
        template=row.template,
        status=row.status,
        detail=row.detail,
        sent_by=row.sent_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def insert_communication(session: AsyncConnection, tenant_id: str, c: Communication) -> Communication:
    row = (
        await session.execute(
            sa.insert(communications)
            .values(
                id=uuid.UUID(c.id),
                tenant_id=uuid.UUID(tenant_id),
                student_id=c.student_id,
                caregiver_id=c.caregiver_id,
                intervention_id=uuid.UUID(c.intervention_id),
                template=c.template,
                status=c.status,
                detail=c.detail,
                sent_by=c.sent_by,
            )
            .returning(*communications.c)
        )
    ).one()
    return _communication(row)


# A stored status's place in COMMUNICATION_ORDER, in SQL (an unknown one is before all).
_COMMUNICATION_RANK = sa.case(
    {status: rank for rank, status in enumerate(COMMUNICATION_ORDER)},
    value=communications.c.status,
    else_=-1,
)


async def get_communication(session: AsyncConnection, comm_id: str) -> Communication | None:
    q = sa.select(communications).where(communications.c.id == uuid.UUID(comm_id))
    row = (await session.execute(q)).first()
    return _communication(row) if row else None


async def set_communication_status(
    session: AsyncConnection, comm_id: str, status: str, detail: str
) -> Communication | None:
    """Moves the communication to `status` only forward (COMMUNICATION_ORDER): None when it
    is not there or already at `status` or beyond, and then nothing is written. The guard is in the
    UPDATE's WHERE, which PostgreSQL re-checks on the newest row after waiting for a concurrent
    writer, so of a delivery job and notify's events racing, the furthest status stands."""
    row = (
        await session.execute(
            sa.update(communications)
            .where(
                communications.c.id == uuid.UUID(comm_id),
                COMMUNICATION_ORDER.index(status) > _COMMUNICATION_RANK,
            )
            .values(status=status, detail=detail, updated_at=sa.func.now())
            .returning(*communications.c)
        )
    ).first()
    return _communication(row) if row else None


async def list_communications(session: AsyncConnection, student_id: str) -> list[Communication]:
    q = (
        sa.select(communications)
        .where(communications.c.student_id == student_id)
        .order_by(communications.c.created_at.desc(), communications.c.id)
        .limit(500)
    )
    return [_communication(r) for r in (await session.execute(q)).all()]
