"""The LMS database, read-only: keyset reads of `attempts` and `contentattempts` with their student,
exam or content and mentors, the poll's upper bound, and the per-day counts of the completeness audit.

The monitor connects with LMS_DATABASE_URL (a read-only role) and every transaction here is READ ONLY,
so nothing in this module can write to the LMS even if the role could. Rows come back as domain
objects (LmsAttempt)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from services.activity.domain import CONTENTS, EXAMS, LmsAttempt, Mentor

_JOIN = {
    EXAMS: "LEFT JOIN exams x ON x.id = a.exam_id",
    CONTENTS: "LEFT JOIN contents x ON x.id = a.content_id",
}
_ACTIVITY = {EXAMS: "a.exam_id", CONTENTS: "a.content_id"}
_SCORE = {EXAMS: "a.score", CONTENTS: "NULL::numeric"}

# Only the two constant table names above are ever formatted into SQL (never input).


def _select(source: str) -> str:
    return f"""
        SELECT a.id, a.state, a.updated_at, a.student_id, s.name AS student_name, s.email AS student_email,
               {_ACTIVITY[source]} AS activity_id, x.title AS activity_title,
               coalesce(x.course, '') AS course, coalesce(x.chapter, '') AS chapter,
               {_SCORE[source]}::float8 AS score, a.percentage::float8 AS percentage,
               a.started_at, a.finished_at
        FROM {source} a LEFT JOIN students s ON s.id = a.student_id {_JOIN[source]}
    """  # noqa: S608


@dataclass(frozen=True)
class Bound:
    """How far a poll may read: rows with updated_at < `upper`. `guarded` when the LMS's open
    transactions were visible (pg_stat_activity) and clamped the bound to the oldest one's start."""

    upper: datetime
    now: datetime
    guarded: bool


class LmsReader:
    def __init__(self, url: str, *, pool_size: int = 4):
        self.url = url
        self.engine: AsyncEngine = create_async_engine(url, pool_size=pool_size, pool_pre_ping=True)

    async def dispose(self) -> None:
        await self.engine.dispose()

    async def bound(self, settle_lag: timedelta) -> Bound:
        """The poll's upper bound: the LMS's clock minus the settle lag, and never past the start of the
        oldest transaction still open in the LMS database (its rows carry a time at or after its start
        and may commit after this poll: reading past it would leave them behind the cursor). Read in
        its own transaction, before the rows are read in later ones: a transaction not open now has
        committed (later snapshots see it) or had not started (its times are later than now)."""
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SET TRANSACTION READ ONLY"))
            row = (
                await conn.execute(
                    sa.text(
                        """
                        SELECT clock_timestamp() AS now,
                               (SELECT min(xact_start) FROM pg_stat_activity
                                 WHERE datname = current_database() AND pid <> pg_backend_pid()
                                   AND backend_type = 'client backend' AND xact_start IS NOT NULL) AS oldest,
                               pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER') AS guarded
                        """
                    )
                )
            ).one()
            await conn.rollback()
        upper = row.now - settle_lag
        if row.guarded and row.oldest is not None:
            upper = min(upper, row.oldest)
        return Bound(upper=upper, now=row.now, guarded=bool(row.guarded))

    async def read(
        self, source: str, after: tuple[datetime, int] | None, upper: datetime, limit: int
    ) -> list[LmsAttempt]:
        """Up to `limit` rows with (updated_at, id) > `after` and updated_at < `upper`, in that order,
        with their mentors."""
        where = "a.updated_at < :upper"
        params: dict[str, Any] = {"upper": upper, "limit": limit}
        if after is not None:
            where += " AND (a.updated_at, a.id) > (:after_t, :after_id)"
            params |= {"after_t": after[0], "after_id": after[1]}
        sql = f"{_select(source)} WHERE {where} ORDER BY a.updated_at, a.id LIMIT :limit"
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SET TRANSACTION READ ONLY"))
            rows = (await conn.execute(sa.text(sql), params)).all()
            mentors = await self._mentors(conn, {r.student_id for r in rows if r.student_id is not None})
            await conn.rollback()
        return [_attempt(source, r, mentors) for r in rows]

    async def read_day(self, source: str, day: datetime, upper: datetime) -> list[LmsAttempt]:
        """Every row whose updated_at falls on `day` (UTC) and before `upper`: the audit's backfill."""
        end = min(day + timedelta(days=1), upper)
        sql = (
            f"{_select(source)} WHERE a.updated_at >= :start AND a.updated_at < :end"
            " ORDER BY a.updated_at, a.id"
        )
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SET TRANSACTION READ ONLY"))
            rows = (await conn.execute(sa.text(sql), {"start": day, "end": end})).all()
            mentors = await self._mentors(conn, {r.student_id for r in rows if r.student_id is not None})
            await conn.rollback()
        return [_attempt(source, r, mentors) for r in rows]

    async def _mentors(self, conn: AsyncConnection, students: set[int]) -> dict[int, list[Mentor]]:
        if not students:
            return {}
        rows = (
            await conn.execute(
                sa.text(
                    "SELECT ms.student_id, m.id, m.name, m.email FROM mentortostudent ms"
                    " JOIN mentors m ON m.id = ms.mentor_id WHERE ms.student_id = ANY(:ids) ORDER BY m.id"
                ),
                {"ids": sorted(students)},
            )
        ).all()
        found: dict[int, list[Mentor]] = {}
        for r in rows:
            found.setdefault(r.student_id, []).append(Mentor(r.id, r.name, r.email))
        return found

    async def buckets(self, source: str, upper: datetime) -> dict[tuple[datetime, str], tuple[int, int]]:
        """(UTC day, state) → (count, hash) of the rows changed before `upper`; the hash is the sum of
        32-bit md5 prefixes of `id:state`, computed the same way on our side (store.audit_buckets)."""
        sql = f"""
            SELECT date_trunc('day', updated_at AT TIME ZONE 'UTC') AS day, state, count(*) AS n,
                   sum(('x' || substr(md5(id::text || ':' || state), 1, 8))::bit(32)::int::bigint) AS h
            FROM {source} WHERE updated_at < :upper GROUP BY 1, 2
        """  # noqa: S608
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SET TRANSACTION READ ONLY"))
            rows = (await conn.execute(sa.text(sql), {"upper": upper})).all()
            await conn.rollback()
        return {(r.day, r.state): (int(r.n), int(r.h or 0)) for r in rows}


def _attempt(source: str, r: Any, mentors: dict[int, list[Mentor]]) -> LmsAttempt:
    return LmsAttempt(
        source=source,
        id=r.id,
        state=r.state,
        updated_at=r.updated_at,
        student_id=r.student_id,
        student_name=r.student_name,
        student_email=r.student_email,
        activity_id=r.activity_id if r.activity_title is not None else None,
        activity_title=r.activity_title,
        course=r.course,
        chapter=r.chapter,
        score=r.score,
        percentage=r.percentage,
        started_at=r.started_at,
        finished_at=r.finished_at,
        mentors=tuple(mentors.get(r.student_id, ())) if r.student_id is not None else (),
    )
