"""interventions's use cases. Each opens one unit of work, applies the domain rules, writes through the
store and stages its events (and audit records) in the outbox of the same transaction; each returns
domain objects.

The policies in force for a tenant are its newest activated version of each policy. The watched
folder (folder.py) holds the defaults every tenant starts with: a tenant whose version of a policy
came from the folder follows the folder (a new version is recorded for it, audited, the next time
the tenant is served after the file changed), while a version activated through the API or a
rollback is the tenant's own until it activates another one.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from services.interventions import convert, store
from services.interventions.domain import (
    Delivery,
    DeliveryOutcome,
    DeliveryRefused,
    PolicyVersion,
    Receipt,
    StoredDecision,
)
from services.interventions.domain import backtest as backtest_domain
from services.interventions.domain import diff as diff_domain
from services.interventions.domain import sessions as sessions_domain
from services.interventions.domain.engine import (
    SENT,
    SUPPRESSED,
    Decision,
    Signal,
    StudentState,
    arbitrate,
    local_day,
    match,
    variables,
    zone,
)
from services.interventions.domain.policy import (
    SIGNALS,
    Policy,
    PolicyInvalid,
    Problem,
    parse,
    render,
    try_parse,
)
from services.interventions.folder import PolicyFolder
from services.interventions.settings import InterventionsConfig
from services.interventions.teachers import NoDirectory, TeacherDirectory
from services.runtime import audit, pagination
from services.runtime.db import Database
from services.runtime.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
    Violations,
)
from services.runtime.events.outbox import Outbox
from services.runtime.jobs import Job, JobQueue
from services.runtime.request_context import Principal

log = logging.getLogger("learnflow.interventions")
DELIVER = "interventions.deliver"
# The sent decisions of one consumed batch, delivered together (BatchSendMessages).
DELIVER_BATCH = "interventions.deliver_batch"
# ask_teacher's notes whose signal named no teachers: their students' teachers looked up in progress
# (one call for the notes of a signal or a consumed batch), then delivered.
TEACHERS = "interventions.teachers"
DECIDED = "interventions.decided"  # the event of every decision and of its delivery's outcomes
MAX_BACKTEST_SIGNALS = 200_000
# The callers who act on every student of the tenant; a teacher acts on their classes' students only
# (progress's rule, docs/progress-model.md "Who sees whom"; docs/interventions.md "Who sees whom").
ALL_STUDENTS = ("admin", "service")
# A teacher's ListDecisions without a student: the tenant's decisions are read this many at a time
# (their students' teachers asked of progress in one call a chunk), at most SCAN_CHUNKS chunks a
# page; a page may then come back short (even empty) with a token to read on from.
SCAN_CHUNK = 500
SCAN_CHUNKS = 4


class Deliverer(Protocol):
    """The delivery port: notify's SendMessage (clients.py). Raises DeliveryRefused for an answer that
    will not change on retry, anything else to be retried."""

    async def deliver(self, delivery: Delivery) -> Receipt: ...


class SlaTracker:
    """learnflow_intervention_sla_compliance_ratio per tenant: the share of this replica's
    interventions of the trailing window delivered within the SLA of their signal (a failed one is
    late). The gauge is set by `publish`; notify's alert rule takes the minimum across replicas.
    Each tenant keeps its window's outcomes in order with a running count of the compliant ones, so
    a record costs the same however many the window holds (it was a sum over the whole window: at
    100 interventions a second, an hour's window is 360,000 of them per record)."""

    def __init__(
        self,
        sla_seconds: int,
        window_seconds: int,
        publish: Callable[[str, float], None],
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.sla = timedelta(seconds=sla_seconds)
        self.window = window_seconds
        self.publish = publish
        self.monotonic = monotonic
        self._seen: dict[str, deque[tuple[float, bool]]] = {}
        self._compliant: dict[str, int] = {}

    def record(self, tenant_id: str, signal_at: datetime, delivered_at: datetime | None) -> bool:
        compliant = delivered_at is not None and delivered_at - signal_at <= self.sla
        self._seen.setdefault(tenant_id, deque()).append((self.monotonic(), compliant))
        self._compliant[tenant_id] = self._compliant.get(tenant_id, 0) + compliant
        self.refresh()
        return compliant

    def refresh(self) -> None:
        horizon = self.monotonic() - self.window
        for tenant, seen in self._seen.items():
            while seen and seen[0][0] < horizon:
                self._compliant[tenant] -= seen.popleft()[1]
            if seen:
                self.publish(tenant, self._compliant[tenant] / len(seen))


@dataclass(frozen=True)
class InForce:
    version: PolicyVersion
    policy: Policy


@dataclass(frozen=True)
class Evaluation:
    signal_id: str
    decisions: list[StoredDecision]


class InterventionsService:
    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        config: InterventionsConfig,
        *,
        folder: PolicyFolder,
        jobs: JobQueue,
        deliverer: Deliverer,
        sla: SlaTracker,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        teachers: TeacherDirectory | None = None,
    ):
        self.db = db
        self.outbox = outbox
        self.config = config
        self.folder = folder
        self.jobs = jobs
        self.deliverer = deliverer
        self.sla = sla
        self.clock = clock
        self.teachers: TeacherDirectory = teachers or NoDirectory()
        self._parsed: dict[str, Policy] = {}
        self._unparsable: set[str] = set()  # stored contents that no longer parse (logged once)

    # --- policies -------------------------------------------------------------------------------

    def _policy_of(self, v: PolicyVersion) -> Policy:
        """The parsed policy of a stored version (cached by content hash: parsing is the costly part)."""
        p = self._parsed.get(v.sha256)
        if p is None:
            p = parse(v.content, v.file)
            if len(self._parsed) > 10_000:
                self._parsed.clear()
            self._parsed[v.sha256] = p
        return p

    async def in_force(self, session: AsyncConnection, tenant_id: str) -> list[InForce]:
        """The tenant's policies in force, for a consumed batch's track_work and evaluate_batch to
        share (one read for both, in the batch's transaction)."""
        return await self._in_force(session, tenant_id)

    async def _in_force(self, session: AsyncConnection, tenant_id: str) -> list[InForce]:
        """The tenant's policies in force, after bringing the ones that follow the folder up to date."""
        active = {v.policy_id: v for v in await store.active_versions(session)}
        for policy_id, default in self.folder.defaults.items():
            current = active.get(policy_id)
            if current is not None and (current.source != "file" or current.sha256 == default.sha256):
                continue
            await store.lock_policy(session, tenant_id, policy_id)
            current = await store.active_version(session, policy_id)  # another request may have done it
            if current is not None and (current.source != "file" or current.sha256 == default.sha256):
                active[policy_id] = current
                continue
            active[policy_id] = await self._activate(
                session,
                tenant_id,
                default,
                source="file",
                author=f"policies/{default.file}",
                reason="the repository's policy file",
                previous=current,
            )
        in_force = []
        for v in active.values():
            if v.sha256 in self._unparsable:
                continue
            try:
                in_force.append(InForce(v, self._policy_of(v)))
            except PolicyInvalid as exc:
                # Activated before the rules refused what it holds (a template's {duration:.0f}, a
                # minutes condition `is: ten`): it would fail every decision, so none applies it.
                self._unparsable.add(v.sha256)
                log.error(
                    "a policy version in force is invalid, so it is not applied",
                    extra={"policy": v.policy_id, "version": v.version, "problem": str(exc)},
                )
        return in_force

    async def _activate(
        self,
        session: AsyncConnection,
        tenant_id: str,
        policy: Policy,
        *,
        source: str,
        author: str,
        reason: str,
        previous: PolicyVersion | None,
    ) -> PolicyVersion:
        created = await store.insert_version(
            session, tenant_id, policy, source=source, author=author, reason=reason, now=self.clock()
        )
        self._parsed[created.sha256] = policy
        await audit.record(
            self.outbox,
            session,
            "policy.rolled_back" if source == "rollback" else "policy.activated",
            f"policies/{policy.id}/versions/{created.version}",
            before={"version": previous.version, "sha256": previous.sha256} if previous else None,
            after={
                "version": created.version,
                "sha256": created.sha256,
                "source": source,
                "author": author,
                "mode": created.mode,
            },
            reason=reason,
        )
        await self.outbox.stage(
            session, "interventions.policy.activated", convert.policy_activated_event(created)
        )
        return created

    def check(self, content: str, file_name: str) -> tuple[Policy | None, list[Problem]]:
        """The parsed policy, or every problem with its line (nothing is stored)."""
        return try_parse(content, file_name or "policy.md")

    async def activate(
        self, tenant_id: str, content: str, file_name: str, author: str, reason: str
    ) -> PolicyVersion:
        policy = _parse_or_invalid(content, file_name)
        async with self.db.transaction(tenant_id) as session:
            await self._in_force(session, tenant_id)
            await store.lock_policy(session, tenant_id, policy.id)
            previous = await store.active_version(session, policy.id)
            return await self._activate(
                session, tenant_id, policy, source="api", author=author, reason=reason, previous=previous
            )

    async def rollback(
        self, tenant_id: str, policy_id: str, to_version: int, author: str, reason: str
    ) -> PolicyVersion:
        async with self.db.transaction(tenant_id) as session:
            await self._in_force(session, tenant_id)
            await store.lock_policy(session, tenant_id, policy_id)
            target = await store.get_version(session, policy_id, to_version)
            if target is None:
                raise NotFound(
                    f"policy {policy_id} has no version {to_version}", reason="POLICY_VERSION_NOT_FOUND"
                )
            previous = await store.active_version(session, policy_id)
            try:
                policy = self._policy_of(target)
            except PolicyInvalid as exc:
                raise FailedPrecondition(
                    f"version {to_version} of policy {policy_id} is invalid under the current rules and "
                    "cannot be rolled back to: " + "; ".join(map(str, exc.problems[:3])),
                    reason="POLICY_VERSION_INVALID",
                ) from None
            return await self._activate(
                session,
                tenant_id,
                policy,
                source="rollback",
                author=author,
                reason=f"rollback to version {to_version}: {reason}",
                previous=previous,
            )

    async def list_versions(
        self, tenant_id: str, policy_id: str, page_size: int, page_token: str
    ) -> tuple[list[PolicyVersion], str]:
        size = pagination.page_size(page_size, default=self.config.default_page_size)
        position = pagination.decode_token(page_token, t=datetime, i=uuid.UUID)
        after = (position["t"], str(position["i"])) if position else None
        async with self.db.transaction(tenant_id) as session:
            await self._in_force(session, tenant_id)
            found = await store.list_versions(session, policy_id, limit=size + 1, after=after)
        token = ""
        if len(found) > size:
            last = found[size - 1]
            token = pagination.encode_token({"t": last.activated_at.isoformat(), "i": last.id})
        return found[:size], token

    async def get_version(self, tenant_id: str, policy_id: str, version: int) -> PolicyVersion:
        async with self.db.transaction(tenant_id) as session:
            await self._in_force(session, tenant_id)
            if version == 0:
                found = await store.active_version(session, policy_id)
            else:
                found = await store.get_version(session, policy_id, version)
        if found is None:
            raise NotFound(f"policy {policy_id} has no version {version}", reason="POLICY_VERSION_NOT_FOUND")
        return found

    async def diff(
        self, tenant_id: str, policy_id: str, from_version: int, to_version: int
    ) -> tuple[str, list[diff_domain.FieldChange]]:
        a = await self.get_version(tenant_id, policy_id, from_version)
        b = await self.get_version(tenant_id, policy_id, to_version)
        text = diff_domain.text_diff(
            a.content, b.content, f"{policy_id} v{a.version}", f"{policy_id} v{b.version}"
        )
        return text, diff_domain.field_changes(a.rules, b.rules)

    # --- who acts on which students -------------------------------------------------------------

    async def _taught(self, caller: Principal, student_ids: Iterable[str]) -> set[str]:
        """The students (lower-case) among student_ids whose classes the caller teaches, as progress
        knows them (ListStudentTeachers through the teacher port). progress unreachable: Unavailable."""
        wanted = sorted({s.lower() for s in student_ids if s})
        if not wanted:
            return set()
        found = await self.teachers.teachers_of(caller.tenant_id, wanted)
        me = caller.subject.lower()
        return {s for s, teachers in found.items() if me in teachers}

    async def may_act_on(self, caller: Principal, student_id: str) -> None:
        """Admins and services act on every student of the tenant; a teacher on their classes'
        students only. Any other id is PERMISSION_DENIED before anything is read — a student of
        another class, of another tenant or nobody alike, as progress answers a teacher's
        GetProgress — so a teacher learns nothing about ids outside their classes."""
        if caller.has_any(*ALL_STUDENTS):
            return
        if caller.has_any("teacher") and student_id.lower() in await self._taught(caller, [student_id]):
            return
        raise PermissionDenied(
            "you may act only on your classes' students' interventions", reason="NOT_YOUR_STUDENT"
        )

    # --- signals and decisions ------------------------------------------------------------------

    async def evaluate_for(
        self, caller: Principal, signal: Signal, time_zone: str = "", student_name: str = ""
    ) -> Evaluation:
        """EvaluateSignal. Admins and services: any student of the tenant, naming any teachers. A
        teacher: their classes' students only, and naming no teachers (PERMISSION_DENIED
        TEACHER_IDS_NOT_ALLOWED on signal.teacher_ids): the signal's teacher messages then go to the
        student's teachers as progress knows them (ask_teacher's note is looked up; teacher_alert
        names none and is suppressed "no recipient"), never to whom the caller names."""
        if not caller.has_any(*ALL_STUDENTS):
            if signal.teacher_ids:
                raise PermissionDenied(
                    "only services and admins name a signal's teachers (signal.teacher_ids); a "
                    "teacher's signal reaches the student's teachers through progress",
                    reason="TEACHER_IDS_NOT_ALLOWED",
                    metadata={"field": "signal.teacher_ids"},
                )
            await self.may_act_on(caller, signal.student_id)
        return await self.evaluate(signal, time_zone, student_name)

    async def evaluate(
        self,
        signal: Signal,
        time_zone: str = "",
        student_name: str = "",
        *,
        session: AsyncConnection | None = None,
    ) -> Evaluation:
        """Stores the signal and the decisions of the policies it satisfies; sent decisions are
        delivered by a durable job committed with them. A signal whose source was seen before
        returns the decisions made then. A consumer passes its own transaction (the inbox row's,
        scoped to the event's tenant), so the event, its signal and its decisions commit together."""
        v = Violations()
        if signal.kind not in SIGNALS:
            v.add("signal.kind", f"{signal.kind!r} is not a signal kind; one of {', '.join(SIGNALS)}")
        if time_zone and zone(time_zone).key != time_zone:
            v.add("signal.time_zone", f"{time_zone!r} is not an IANA time zone, e.g. Europe/Berlin")
        v.raise_if_any()
        if session is not None:
            return await self._evaluate(session, signal, time_zone, student_name)
        async with self.db.transaction(signal.tenant_id) as own:
            return await self._evaluate(own, signal, time_zone, student_name)

    async def set_student(
        self, session: AsyncConnection, tenant_id: str, student_id: str, time_zone: str, name: str
    ) -> None:
        """identity's word on a user: their time zone (for the daily cap) and name (for templates)."""
        await store.set_student(session, tenant_id, student_id, zone(time_zone).key, name)

    async def _evaluate(
        self, session: AsyncConnection, signal: Signal, time_zone: str, student_name: str
    ) -> Evaluation:
        if not time_zone or not student_name:  # what identity said about the student, else UTC
            known = await store.get_student(session, signal.student_id)
            time_zone = time_zone or (known[0] if known else "")
            student_name = student_name or (known[1] if known else "")
        tz = time_zone or "UTC"
        tenant = signal.tenant_id
        # The versions are read first: a policy activated while this decision waits for the
        # student's lock below applies to the next signal, not this one (seed decision 5).
        in_force = [f for f in await self._in_force(session, tenant) if f.policy.signal == signal.kind]
        day = local_day(signal.occurred_at, tz)
        if any(c.kind == "repeated" for f in in_force for c in f.policy.conditions):
            # Counting repeats must see the student's other signals of the moment: three hint
            # requests decided at once would each count only itself and the ones committed before,
            # and none would reach "3 times". The student's lock (taken below anyway) is taken before
            # the signal is stored, so the next one counts it once this transaction commits.
            await store.lock_student_day(session, tenant, signal.student_id, day)
        stored_id = await store.insert_signal(session, signal, tz, student_name)
        if stored_id is None:
            earlier = await store.signal_id_of_source(session, signal.source)
            assert earlier is not None
            return Evaluation(earlier, await store.decisions_of_signal(session, earlier))
        counts: dict[tuple[str, str, str, datetime], int] = {}
        for f in in_force:
            for c in f.policy.conditions:
                if c.kind == "repeated":
                    value = str(signal.fact(c.same))
                    since = signal.occurred_at - timedelta(minutes=c.within_minutes)
                    k = (signal.kind, c.same, value, since)
                    if k not in counts:
                        counts[k] = await store.count_repeats(
                            session,
                            signal.student_id,
                            signal.kind,
                            c.same,
                            value,
                            since,
                            signal.occurred_at,
                        )
        matches = [match(f.policy, signal, tz, lambda *k: counts[k]) for f in in_force]
        if not any(m.held for m in matches):
            return Evaluation(stored_id, [])
        state = StudentState(
            await store.lock_student_day(session, tenant, signal.student_id, day),
            await store.last_sent(session, signal.student_id),
        )
        before = state.sent_today
        decided = arbitrate(signal, matches, state, tz, cap=self.config.daily_cap)
        if state.sent_today > before:
            await store.add_sent(session, signal.student_id, day, state.sent_today - before)
        versions = {f.policy.id: f.version for f in in_force}
        rows = _decision_rows(signal, stored_id, decided, versions, student_name, self.clock())
        stored = await store.insert_decisions(session, rows)
        for row in stored:
            await self.outbox.stage(session, DECIDED, convert.decided_event(row))
            if row.status == SENT and row.recipients:
                await self.jobs.enqueue(
                    session, DELIVER, {"decision_id": row.id}, key=row.id, tenant_id=tenant
                )
        await self._enqueue_lookup(session, tenant, stored)
        return Evaluation(stored_id, stored)

    async def track_work(
        self, session: AsyncConnection, activity: Sequence[Signal], in_force: list[InForce] | None = None
    ) -> list[Signal]:
        """The producer of work.session: the consumed activity signals of one tenant extend their
        students' work sessions (a gap of more than INTERVENTIONS_SESSION_GAP_MINUTES starts a new
        one), set-based — one insert, one locking read and one update for the batch. Returns the
        work.session signals of the thresholds crossed (the `minutes: at_least` of the work.session
        policies in force), for the caller to evaluate in the same transaction like any other signal.
        Each session and threshold is signalled once: the locked row records the thresholds signalled
        (concurrent batches for a student wait for each other) and the signal's source names session
        and threshold (a redelivered event's signal is stored once). Call it before evaluating the
        batch: its row locks come before the student_days locks evaluation takes, in every path."""
        activity = [sig for sig in activity if sig.kind in sessions_domain.ACTIVITY]
        if not activity:
            return []
        tenant = activity[0].tenant_id
        if any(sig.tenant_id != tenant for sig in activity):
            raise ValueError("track_work takes the signals of one tenant")
        if in_force is None:
            in_force = await self._in_force(session, tenant)
        wanted = sessions_domain.thresholds(f.policy for f in in_force)
        by_student: dict[str, list[tuple[datetime, str]]] = {}
        for sig in activity:
            by_student.setdefault(sig.student_id, []).append((sig.occurred_at, sig.topic))
        current = await store.lock_work_sessions(
            session, tenant, {student: min(t for t, _ in acts) for student, acts in by_student.items()}
        )
        gap = timedelta(minutes=self.config.session_gap_minutes)
        changed: dict[str, sessions_domain.WorkSession] = {}
        produced: list[Signal] = []
        for student, acts in by_student.items():
            after, crossed = sessions_domain.advance(current[student], acts, gap, wanted)
            if after != current[student]:
                changed[student] = after
            produced += [sessions_domain.signal_of(c, tenant, student) for c in crossed]
        await store.save_work_sessions(session, changed)
        return produced

    async def evaluate_batch(
        self, session: AsyncConnection, batch: Sequence[Signal], in_force: list[InForce] | None = None
    ) -> int:
        """`evaluate` for a consumed batch of one tenant's signals, in the consumer's transaction,
        set-based: one statement per table for the batch instead of a dozen per signal. The
        decisions are those `evaluate` would make taking the signals one after another in this order
        (tests/interventions/integration/test_interventions_service.py compares both): the versions in
        force are read once, every student's day row is locked up front in one order (so concurrent
        batches cannot deadlock), a `repeated` count adds the batch's earlier signals to the stored
        ones, and the cap and cool-downs carry from one signal to the next in memory. Returns how
        many decisions were stored. A redelivered signal (its source stored before) is skipped."""
        if not batch:
            return 0
        tenant = batch[0].tenant_id
        if any(sig.tenant_id != tenant for sig in batch):
            raise ValueError("evaluate_batch takes the signals of one tenant")
        for sig in batch:
            if sig.kind not in SIGNALS:
                raise InvalidArgument(f"{sig.kind!r} is not a signal kind")
        in_force_all = in_force if in_force is not None else await self._in_force(session, tenant)
        known = await store.students_of(session, [sig.student_id for sig in batch])
        stored_before = await store.sources_stored(session, [sig.source or sig.id for sig in batch])
        fresh: list[Signal] = []
        seen: set[str] = set()
        for sig in batch:
            source = sig.source or sig.id
            if source not in stored_before and source not in seen:
                seen.add(source)
                fresh.append(sig)
        if not fresh:
            return 0
        zone_of = {sig.id: (known.get(sig.student_id, ("", ""))[0] or "UTC") for sig in fresh}
        name_of = {sig.id: known.get(sig.student_id, ("", ""))[1] for sig in fresh}
        day_of = {sig.id: local_day(sig.occurred_at, zone_of[sig.id]) for sig in fresh}
        by_kind = {
            kind: [f for f in in_force_all if f.policy.signal == kind] for kind in {sig.kind for sig in fresh}
        }
        # Locked before anything is counted or stored, as `_evaluate` does, so a concurrent batch
        # for the same student waits and then counts this one's signals.
        sent_on = await store.lock_student_days(
            session, tenant, [(sig.student_id, day_of[sig.id]) for sig in fresh if by_kind[sig.kind]]
        )
        before = dict(sent_on)
        # The stored repeats, then the batch's own earlier signals (and the signal itself), as the
        # signal-by-signal path would count them.
        wanted: dict[str, list[tuple[int, tuple[str, str, str, datetime]]]] = {}
        for i, sig in enumerate(fresh):
            for f in by_kind[sig.kind]:
                for c in f.policy.conditions:
                    if c.kind == "repeated":
                        since = sig.occurred_at - timedelta(minutes=c.within_minutes)
                        wanted.setdefault(c.same, []).append(
                            (i, (sig.kind, c.same, str(sig.fact(c.same)), since))
                        )
        counts: list[dict[tuple[str, str, str, datetime], int]] = [{} for _ in fresh]
        for fact, asks in wanted.items():
            found = await store.count_repeats_many(
                session,
                fact,
                [(fresh[i].student_id, k[0], k[2], k[3], fresh[i].occurred_at) for i, k in asks],
            )
            for (i, k), n in zip(asks, found, strict=True):
                sig = fresh[i]
                earlier = sum(
                    1
                    for other in fresh[: i + 1]
                    if other.student_id == sig.student_id
                    and other.kind == sig.kind
                    and str(other.fact(fact)) == k[2]
                    and k[3] <= other.occurred_at <= sig.occurred_at
                )
                counts[i][k] = n + earlier
        stored_ids = await store.insert_signals(
            session, [(sig, zone_of[sig.id], name_of[sig.id]) for sig in fresh]
        )
        if stored_ids != {sig.id for sig in fresh}:
            # A source stored since it was looked up (the same event consumed twice at once): the
            # runtime rolls the batch back and applies it one event at a time, which returns the
            # decisions made then for the one stored before.
            raise RuntimeError("a signal of the batch was stored meanwhile; applying the batch one by one")
        last = await store.last_sent_many(
            session, sorted({sig.student_id for sig in fresh if by_kind[sig.kind]})
        )
        now = self.clock()
        rows: list[StoredDecision] = []
        for i, sig in enumerate(fresh):
            in_force = by_kind[sig.kind]
            tz = zone_of[sig.id]
            matches = [match(f.policy, sig, tz, lambda *k, i=i: counts[i][k]) for f in in_force]
            if not any(m.held for m in matches):
                continue
            key = (sig.student_id, day_of[sig.id])
            state = StudentState(sent_on[key], dict(last[sig.student_id]))
            decided = arbitrate(sig, matches, state, tz, cap=self.config.daily_cap)
            sent_on[key] = state.sent_today
            for intervention, at in state.last_sent.items():  # the latest, as the stored max() reads
                known_at = last[sig.student_id].get(intervention)
                if known_at is None or at > known_at:
                    last[sig.student_id][intervention] = at
            versions = {f.policy.id: f.version for f in in_force}
            rows += _decision_rows(sig, sig.id, decided, versions, name_of[sig.id], now)
        await store.add_sent_many(session, {k: n - before[k] for k, n in sent_on.items() if n > before[k]})
        stored = await store.insert_decisions(session, rows)
        await self._stage_decided(session, tenant, stored)
        sent = [row.id for row in stored if row.status == SENT and row.recipients]
        await self._enqueue_lookup(session, tenant, stored)
        if len(sent) > 1:  # one job, one call to notify for the batch's messages
            await self.jobs.enqueue(
                session, DELIVER_BATCH, {"decision_ids": sent}, key=f"batch:{sent[0]}", tenant_id=tenant
            )
        elif sent:
            await self.jobs.enqueue(session, DELIVER, {"decision_id": sent[0]}, key=sent[0], tenant_id=tenant)
        return len(stored)

    async def _enqueue_lookup(
        self, session: AsyncConnection, tenant: str, stored: Sequence[StoredDecision]
    ) -> None:
        """One teacher-lookup job for the sent decisions that wait for their recipients (ask_teacher's
        notes of signals naming no teachers), committed with them: progress is asked after the
        commit, so the student's own message never waits for it (teachers_job)."""
        waiting = [row.id for row in stored if row.status == SENT and not row.recipients]
        if waiting:
            await self.jobs.enqueue(
                session, TEACHERS, {"decision_ids": waiting}, key=f"teachers:{waiting[0]}", tenant_id=tenant
            )

    async def teachers_job(self, job: Job, session: AsyncConnection) -> None:
        """The teachers of the students of ask_teacher's notes that named none, from progress in one
        call; each note then gets its recipients and its delivery job (one call to notify for
        several, as a consumed batch's). A student without a teacher: the note is suppressed "no
        recipient". progress unreachable: the job is retried with backoff (the student's message was
        decided and delivered meanwhile); after the last attempt the notes fail with the reason."""
        ids = [str(i) for i in job.payload["decision_ids"]]
        waiting = [
            d
            for d in await store.get_decisions(session, ids)
            if d.status == SENT and d.delivery_status == "pending" and not d.recipients
        ]
        if not waiting:
            return
        tenant = waiting[0].tenant_id
        try:
            found = await self.teachers.teachers_of(tenant, sorted({d.student_id for d in waiting}))
        except Exception as exc:
            if isinstance(exc, Unavailable) and not job.last_attempt:
                raise
            for d in waiting:
                await self._outcome(
                    session,
                    d,
                    "failed",
                    attempts=0,
                    error=f"the student's teachers could not be looked up in progress: {exc}",
                )
            return
        ready: list[str] = []
        for d in waiting:
            teachers = found.get(d.student_id.lower(), ())
            if teachers:
                changed = await store.set_recipients(session, d.id, teachers)
                ready.append(changed.id)
            else:
                changed = await store.suppress_decision(
                    session, d.id, "no recipient: progress knows no teacher of the student (no class)"
                )
            await self.outbox.stage(session, DECIDED, convert.decided_event(changed))
        if len(ready) > 1:
            await self.jobs.enqueue(
                session, DELIVER_BATCH, {"decision_ids": ready}, key=f"batch:{ready[0]}", tenant_id=tenant
            )
        elif ready:
            await self.jobs.enqueue(
                session, DELIVER, {"decision_id": ready[0]}, key=ready[0], tenant_id=tenant
            )

    async def _stage_decided(
        self, session: AsyncConnection, tenant: str, rows: Sequence[StoredDecision]
    ) -> None:
        """interventions.decided for each decision, in one statement (Outbox.stage_many)."""
        await self.outbox.stage_many(
            session, [(DECIDED, convert.decided_event(row)) for row in rows], tenant_id=tenant
        )

    async def deliver_job(self, job: Job, session: AsyncConnection) -> None:
        """One delivery attempt of a sent decision: hands it to notify (jobs retry it with backoff;
        seed FR1.3: three retries, then failed for good). notify answers at once with its pending
        delivery: the decision is then "queued" and its outcome (sent with Moodle's message id,
        failed, read) arrives on notify.delivery.* (delivery_outcome)."""
        decision = await store.get_decision(session, str(job.payload["decision_id"]), lock=True)
        if decision is None or decision.delivery_status != "pending":
            return
        try:
            receipt = await self.deliverer.deliver(_delivery_of(decision))
        except DeliveryRefused as exc:
            await self._outcome(session, decision, "failed", attempts=job.attempts, error=str(exc))
            return
        except Exception as exc:
            if not job.last_attempt:
                raise
            await self._outcome(session, decision, "failed", attempts=job.attempts, error=repr(exc))
            return
        await self._accepted(session, [(decision, receipt)], job.attempts)

    async def _accepted(
        self, session: AsyncConnection, accepted: Sequence[tuple[StoredDecision, Receipt]], attempts: int
    ) -> None:
        """notify took the decisions' messages: each is sent when the port knows the provider's id at
        once, else queued until notify.delivery.* says. One write for all of them (_write_outcomes)."""
        at = self.clock()
        changed: list[StoredDecision] = []
        settled: list[StoredDecision] = []
        for d, receipt in accepted:
            if receipt.provider_message_id:
                done = _settled(d, "sent", attempts, at, receipt.provider_message_id, "")
                if d.delivery_status != "failed":
                    self.sla.record(d.tenant_id, d.signal_occurred_at, done.delivered_at)
                settled.append(done)
            else:
                done = replace(
                    d,
                    delivery_status="queued",
                    delivery_attempts=attempts,
                    moodle_message_id="",
                    delivery_error="",
                    delivered_at=None,
                )
            changed.append(done)
        # "queued" is stored, not published: interventions.decided goes out for the decision and
        # again for its delivery's outcome (sent, failed, read), not for notify's acceptance.
        await self._write_outcomes(session, [(d, at) for d in changed], settled=settled, published=settled)

    async def deliver_batch_job(self, job: Job, session: AsyncConnection) -> None:
        """One delivery attempt of a consumed batch's sent decisions, in one call to notify
        (BatchSendMessages; deliver_job's rules otherwise). notify refuses a whole call when one
        message is invalid: the decisions then get a delivery job each, so the refused one fails
        alone and the others are delivered. After the last attempt the pending ones are failed."""
        ids = [str(i) for i in job.payload["decision_ids"]]
        pending = [d for d in await store.get_decisions(session, ids) if d.delivery_status == "pending"]
        if not pending:
            return
        try:
            receipts = await _deliver_all(self.deliverer, [_delivery_of(d) for d in pending])
        except DeliveryRefused as exc:
            log.warning(
                "notify refused a batch of deliveries; delivering them one by one",
                extra={"decisions": len(pending), "error": str(exc)},
            )
            await self.jobs.enqueue_many(
                session, DELIVER, [(d.tenant_id, d.id, {"decision_id": d.id}) for d in pending]
            )
            return
        except Exception as exc:
            if not job.last_attempt:
                raise
            for d in pending:
                await self._outcome(session, d, "failed", attempts=job.attempts, error=repr(exc))
            return
        await self._accepted(session, list(zip(pending, receipts, strict=True)), job.attempts)

    async def delivery_outcome(
        self,
        tenant_id: str,
        decision_id: str,
        status: str,
        *,
        attempts: int,
        at: datetime,
        moodle_message_id: str = "",
        error: str = "",
        session: AsyncConnection | None = None,
    ) -> None:
        """notify's word on one of a decision's messages (delivery_outcomes for one)."""
        outcome = DeliveryOutcome(decision_id, status, attempts, at, moodle_message_id, error)
        if session is None:
            async with self.db.transaction(tenant_id) as own:
                await self.delivery_outcomes(own, [outcome])
        else:
            await self.delivery_outcomes(session, [outcome])

    async def delivery_outcomes(self, session: AsyncConnection, outcomes: Sequence[DeliveryOutcome]) -> None:
        """notify's word on decisions' deliveries (notify.delivery.sent | failed | read), in order, in
        the caller's transaction (the consumer's, scoped to the events' tenant). A decision sent to
        several recipients is sent when the first of them is; a read only follows a send; a failure
        after a send changes nothing. Set-based for a consumed batch: the decisions read and locked in
        one statement, the outcomes applied in memory in order, then one UPDATE for the changed
        decisions and one INSERT each for their audit records and events."""
        found = {d.id: d for d in await store.get_decisions(session, [o.decision_id for o in outcomes])}
        now: dict[str, StoredDecision] = {}  # each changed decision's state after the batch
        attempted: dict[str, datetime] = {}  # and the time of its last change (last_attempt_at)
        settled: list[StoredDecision] = []  # final outcomes, in order: audited, published, counted
        for o in outcomes:
            d = now.get(o.decision_id) or found.get(o.decision_id)
            if d is None:
                continue
            if o.status == "read":
                if d.delivery_status not in ("sent", "queued"):
                    continue
                changed = replace(
                    d,
                    delivery_status="read",
                    moodle_message_id=d.moodle_message_id or o.provider_message_id,
                    delivery_error="",
                    delivered_at=d.delivered_at or o.at,
                )
            elif d.delivery_status in ("sent", "read") or (
                o.status == "failed" and d.delivery_status == "failed"
            ):
                continue
            else:
                changed = _settled(d, o.status, o.attempts, o.at, o.provider_message_id, o.error)
                settled.append(changed)
                if d.delivery_status != "failed":  # each decision counts once, at its first outcome
                    self.sla.record(d.tenant_id, d.signal_occurred_at, changed.delivered_at)
            now[d.id], attempted[d.id] = changed, o.at
        rows = [(d, attempted[i]) for i, d in now.items()]
        await self._write_outcomes(session, rows, settled=settled, published=settled)

    async def _outcome(
        self,
        session: AsyncConnection,
        decision: StoredDecision,
        status: str,
        *,
        attempts: int,
        moodle_message_id: str = "",
        error: str = "",
    ) -> None:
        """A final outcome (sent or failed) found by the delivery job itself."""
        at = self.clock()
        done = _settled(decision, status, attempts, at, moodle_message_id, error)
        if decision.delivery_status != "failed":
            self.sla.record(decision.tenant_id, decision.signal_occurred_at, done.delivered_at)
        await self._write_outcomes(session, [(done, at)], settled=[done], published=[done])

    async def _write_outcomes(
        self,
        session: AsyncConnection,
        changed: Sequence[tuple[StoredDecision, datetime]],
        *,
        settled: Sequence[StoredDecision],
        published: Sequence[StoredDecision],
    ) -> None:
        """The changed decisions' delivery columns (and the time of the change) in one statement; the
        audit records of the final outcomes (intervention.delivered | intervention.delivery_failed)
        in one insert; interventions.decided for the `published` ones in another."""
        await store.record_deliveries(session, changed)
        await audit.record_many(
            self.outbox,
            session,
            [
                audit.Entry(
                    "intervention.delivered"
                    if d.delivery_status == "sent"
                    else "intervention.delivery_failed",
                    f"decisions/{d.id}",
                    after={
                        "intervention": d.intervention,
                        "student_id": d.student_id,
                        "recipients": list(d.recipients),
                        "policy": f"{d.policy_id}/versions/{d.policy_version}",
                        "attempts": d.delivery_attempts,
                        "moodle_message_id": d.moodle_message_id,
                    },
                    reason=d.delivery_error,
                )
                for d in settled
            ],
        )
        if published:
            await self._stage_decided(session, published[0].tenant_id, published)

    async def list_decisions(
        self, caller: Principal, student_id: str, page_size: int, page_token: str
    ) -> tuple[list[StoredDecision], str]:
        """The decisions (of one student when student_id is set), newest first. One student: as
        may_act_on allows (a teacher's other ids are PERMISSION_DENIED). No student: admins and
        services the tenant's, a teacher their classes' students' (_teachers_decisions)."""
        size = pagination.page_size(page_size, default=self.config.default_page_size)
        position = pagination.decode_token(page_token, t=datetime, i=uuid.UUID)
        after = (position["t"], str(position["i"])) if position else None
        if student_id:
            await self.may_act_on(caller, student_id)
        elif not caller.has_any(*ALL_STUDENTS):
            return await self._teachers_decisions(caller, size, after)
        async with self.db.transaction(caller.tenant_id) as session:
            found = await store.list_decisions(session, student_id, limit=size + 1, after=after)
        token = ""
        if len(found) > size:
            token = _position(found[size - 1])
        return found[:size], token

    async def _teachers_decisions(
        self, caller: Principal, size: int, after: tuple[datetime, str] | None
    ) -> tuple[list[StoredDecision], str]:
        """A teacher's decisions without a student: the tenant's, newest first, of the students the
        teacher teaches now (progress's classes). Read SCAN_CHUNK at a time, each chunk's new students
        asked of progress in one call; after SCAN_CHUNKS chunks the page ends, short, with a token
        at the last decision read, so a teacher whose students are rare among the tenant's decisions
        pages on instead of one request reading the whole table."""
        kept: list[StoredDecision] = []
        taught: dict[str, bool] = {}
        chunk: list[StoredDecision] = []
        for _ in range(SCAN_CHUNKS):
            async with self.db.transaction(caller.tenant_id) as session:
                chunk = await store.list_decisions(session, "", limit=SCAN_CHUNK, after=after)
            unknown = {d.student_id.lower() for d in chunk} - taught.keys()
            if unknown:  # progress is asked outside the transaction
                mine = await self._taught(caller, unknown)
                taught.update({s: s in mine for s in unknown})
            for d in chunk:
                if taught[d.student_id.lower()]:
                    kept.append(d)
                    if len(kept) > size:
                        return kept[:size], _position(kept[size - 1])
            if len(chunk) < SCAN_CHUNK:
                return kept, ""
            after = (chunk[-1].created_at, chunk[-1].id)
        return kept, _position(chunk[-1])  # the budget spent: read on after the last one read

    async def backtest(
        self, tenant_id: str, content: str, file_name: str, start: datetime, end: datetime
    ) -> backtest_domain.BacktestReport:
        v = Violations()
        if end <= start:
            v.add("end_time", "must be after start_time")
        v.raise_if_any()
        candidate = _parse_or_invalid(content, file_name)
        async with self.db.transaction(tenant_id) as session:
            in_force = await self._in_force(session, tenant_id)
            # One more than a backtest takes: more means refuse, never all of a large tenant's years.
            found, zones = await store.signals_between(session, start, end, MAX_BACKTEST_SIGNALS + 1)
        if len(found) > MAX_BACKTEST_SIGNALS:
            window = f"{start.isoformat()} to {end.isoformat()}"
            v = Violations()
            for name in ("start_time", "end_time"):
                v.add(name, f"the window {window} holds more than {MAX_BACKTEST_SIGNALS} signals")
            raise InvalidArgument(
                f"the window {window} holds more than {MAX_BACKTEST_SIGNALS} signals, the most a "
                "backtest replays: narrow the window",
                list(v.items),
                reason="BACKTEST_WINDOW_TOO_LARGE",
            )
        # Pure CPU work: off the event loop, so the server keeps answering while it runs.
        return await asyncio.to_thread(
            backtest_domain.backtest, found, [f.policy for f in in_force], candidate, zones
        )


def _position(d: StoredDecision) -> str:
    """The page token that reads on after decision d (newest first: created_at, then id)."""
    return pagination.encode_token({"t": d.created_at.isoformat(), "i": d.id})


def _settled(
    d: StoredDecision, status: str, attempts: int, at: datetime, moodle_message_id: str, error: str
) -> StoredDecision:
    """A decision after its final outcome (sent or failed) at `at`."""
    return replace(
        d,
        delivery_status=status,
        delivery_attempts=attempts,
        moodle_message_id=moodle_message_id,
        delivery_error=error[:1000],
        delivered_at=at if status == "sent" else None,
    )


def _delivery_of(decision: StoredDecision) -> Delivery:
    return Delivery(
        decision_id=decision.id,
        tenant_id=decision.tenant_id,
        intervention=decision.intervention,
        recipients=decision.recipients,
        subject=decision.subject,
        message=decision.message,
        urgency=decision.urgency,
        to_teachers=decision.recipients != (decision.student_id,),
    )


async def _deliver_all(deliverer: Deliverer, deliveries: list[Delivery]) -> list[Receipt]:
    """Through the port's deliver_many when it has one (notify's BatchSendMessages), else one by one."""
    many = getattr(deliverer, "deliver_many", None)
    if many is not None:
        receipts: list[Receipt] = await many(deliveries)
        return receipts
    return [await deliverer.deliver(d) for d in deliveries]


def _decision_rows(
    signal: Signal,
    stored_id: str,
    decided: Sequence[Decision],
    versions: dict[str, PolicyVersion],
    student_name: str,
    now: datetime,
) -> list[StoredDecision]:
    """The stored form of a signal's decisions: recipients, the rendered message, the version."""
    tenant = signal.tenant_id
    rows: list[StoredDecision] = []
    for d in decided:
        p = d.policy
        recipients = tuple(signal.teacher_ids) if p.audience == "teachers" else (signal.student_id,)
        status, reason = d.status, d.reason
        if status == SENT and not recipients:
            status, reason = (
                SUPPRESSED,
                "no recipient: the signal names none of the student's teachers",
            )
        values = variables(signal, p, student_name)
        template = p.teacher_template if p.audience == "teachers" else p.student_template
        rows.append(
            StoredDecision(
                id=str(uuid.uuid4()),
                tenant_id=tenant,
                signal_id=stored_id,
                student_id=signal.student_id,
                policy_id=p.id,
                policy_version_id=versions[p.id].id,
                policy_version=versions[p.id].version,
                intervention=p.intervention,
                status=status,
                reason=reason,
                urgency=d.urgency,
                trace=d.trace,
                local_day=d.local_day,
                recipients=recipients,
                subject=render(p.subject, values) if p.subject else p.title,
                message=render(template, values),
                delivery_status="pending" if status == SENT else "not_sent",
                delivery_attempts=0,
                moodle_message_id="",
                delivery_error="",
                signal_occurred_at=signal.occurred_at,
                created_at=now,
                delivered_at=None,
            )
        )
        if p.intervention == "ask_teacher" and p.teacher_template and status == SENT:
            # The student is told to reach out, and their teachers that they may (seed 000 FR4):
            # a decision of its own, so its delivery is tracked apart; not one of the student's
            # interventions of the day (the cap counted the student's message only). A signal that
            # names no teachers (tutoring's) leaves the recipients to the teacher-lookup job.
            rows.append(
                replace(
                    rows[-1],
                    id=str(uuid.uuid4()),
                    recipients=tuple(signal.teacher_ids),
                    message=render(p.teacher_template, values),
                    reason="the student's teachers, told that the student may ask them (ask_teacher)"
                    + ("" if signal.teacher_ids else "; looked up in progress"),
                )
            )
    return rows


def _parse_or_invalid(content: str, file_name: str) -> Policy:
    try:
        return parse(content, file_name or "policy.md")
    except PolicyInvalid as exc:
        v = Violations()
        for problem in exc.problems:
            v.add("content", str(problem))
        v.raise_if_any(
            "the policy is invalid and was not activated: " + "; ".join(map(str, exc.problems[:3]))
        )
        raise AssertionError("unreachable") from exc
