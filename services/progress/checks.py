"""The periodic checks that no activity triggers: rule activity_drop (a student who stopped coming) and
the quiet-period expiry of episodes nobody closed.

Row-level security hides every tenant's rows from a transaction without a tenant, so a scan across
tenants reads the tenant ids from `progress.tenants` (tenant ids only, no policy; a trigger adds a
tenant with its first student) and visits each tenant in its own transaction scoped with set_tenant
(docs/progress-model.md). Per tenant: an unlocked read finds the students with something to do, then
only those are locked (sorted, like the intake does) and decided again under the lock, so a check
racing an activity of the same student never acts on a stale state. Several replicas may run the
checks at once: the locks and the partial unique index keep one alert per episode.

In the mesh the tenants are shared out as durable jobs (services/runtime/jobs.py): each replica's
timer enqueues one `progress-check-tenant` job per tenant keyed by tenant and tick (so the replicas'
timers add it once), and whichever replica claims a job checks that tenant. A tenant whose check fails
is retried with backoff instead of waiting for the next tick, and a slow tenant holds up no other.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from services.progress import store
from services.progress.domain import struggle as struggle_model
from services.progress.domain.records import Student
from services.progress.episodes import Episodes
from services.progress.intake import risk
from services.runtime.db import Database
from services.runtime.events.outbox import Outbox
from services.runtime.jobs import Job, JobQueue

CHECK_TENANT = "progress-check-tenant"

log = logging.getLogger(__name__)


class PeriodicChecks:
    def __init__(self, db: Database, outbox: Outbox, detector: struggle_model.StruggleDetector):
        self.db = db
        self.outbox = outbox
        self.detector = detector

    async def run(self, now: datetime, tenants: list[str] | None = None) -> int:
        """Checks every tenant the schema knows (or those given) as of `now`; returns how many
        students' alerts changed. A tenant that fails is logged and the others still run."""
        if tenants is None:
            async with self.db.transaction(tenant_id="") as session:
                tenants = await store.known_tenants(session)
        changed = 0
        for tenant_id in tenants:
            try:
                async with self.db.transaction(tenant_id) as session:
                    changed += await self._check_tenant(session, tenant_id, now)
            except Exception:
                log.exception("periodic progress check failed", extra={"tenant": tenant_id})
        return changed

    async def enqueue(self, jobs: JobQueue, now: datetime, every_seconds: float) -> int:
        """One check job per known tenant for the tick `now` falls in; returns how many were added
        (0 when another replica enqueued this tick already)."""
        tick = int(now.timestamp() // every_seconds)
        async with self.db.transaction(tenant_id="") as session:
            tenants = await store.known_tenants(session)
            return await jobs.enqueue_many(session, CHECK_TENANT, [(t, f"{t}:{tick}", {}) for t in tenants])

    async def check_job(self, job: Job, session: AsyncConnection) -> None:
        """The job handler: checks the job's tenant as of now (a retried check looks at the present),
        in the job's transaction, which is scoped to that tenant."""
        if job.tenant_id is None:
            raise ValueError(f"{CHECK_TENANT} job {job.id} has no tenant")
        await self._check_tenant(session, job.tenant_id, datetime.now(UTC))

    async def _check_tenant(self, session: AsyncConnection, tenant_id: str, now: datetime) -> int:
        s = self.detector.settings
        expiring = await store.students_with_alerts_opened_before(session, now - s.quiet_period)
        # A drop needs `activity_drop_idle_days` whole local days without activity, so at least that
        # many days minus one (the local day of the last activity may have just begun) since it.
        idle_since = now - timedelta(days=max(s.activity_drop_idle_days - 1, 0))
        idle = await store.students_idle_since(session, idle_since) if s.activity_drop_enabled else []
        rows = {r.student_id: r for r in idle}
        candidates = sorted(set(expiring) | set(rows))
        if not candidates:
            return 0
        episodes = await self._decide(session, rows, candidates, now)
        if not episodes.changed:
            return 0
        affected = sorted(episodes.changed)
        locked = await store.lock_students(session, tenant_id, affected)
        episodes = await self._decide(session, locked, affected, now)
        await episodes.write(session, tenant_id, self.outbox)
        await store.update_alert_summaries(
            session,
            {
                sid: (
                    episodes.count(sid),
                    risk(episodes.count(sid), locked[sid].mean_mastery, locked[sid].topics),
                )
                for sid in sorted(episodes.changed)
            },
        )
        return len(episodes.changed)

    async def _decide(
        self, session: AsyncConnection, rows: dict[str, Student], student_ids: list[str], now: datetime
    ) -> Episodes:
        """What the checks do to these students' episodes: expiry, then a drop for those in `rows`
        (their streak and time zone). A drop is alerted once per key (the last active date): a student
        who comes back and drops again has a new key; the same absence is not alerted again."""
        episodes = Episodes(await store.open_alerts_of(session, student_ids), now)
        alerted = await store.alert_keys(session, student_ids, struggle_model.ACTIVITY_DROP)
        for sid in student_ids:
            episodes.expire(sid, self.detector)
            student = rows.get(sid)
            if student is None:
                continue
            found = self.detector.check_activity_drop(
                student.streak, now, student.time_zone, episodes.keys(sid)
            )
            if found is not None and (sid, found.key) not in alerted:
                episodes.open(sid, found)
        return episodes
