"""mtss's use cases. Each opens one unit of work, applies the domain rules, writes through the store,
stages its events and its audit record in the outbox of the same transaction, and returns domain
objects. Conflict checks run inside the transaction that writes, so nothing double-booked is ever
published."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from services.mtss import convert, store
from services.mtss.domain import analysis as an
from services.mtss.domain import edfi_import, interop
from services.mtss.domain import programs as p
from services.mtss.domain.conflicts import Booking, Conflict, conflicts_for, scan
from services.mtss.domain.schedule import MAX_DURATION, expand
from services.mtss.settings import MtssConfig
from services.runtime import audit, pagination
from services.runtime.db import Database
from services.runtime.db import parse_uuid as parse_id
from services.runtime.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
    Violations,
)
from services.runtime.events.outbox import Outbox
from services.runtime.jobs import Job, JobKind, JobQueue
from services.runtime.request_context import Principal
from services.runtime.zones import zone_named

MAX_NAMED_CONFLICTS = 20
MAX_SCAN_DAYS = 400  # ScanConflicts' window: the longest intervention (programs.check_new)
MAX_SCAN_SESSIONS = 50_000  # rows one scan reads; a year of bench.mtss_year's school is ~22,000
# The durable job that hands one caregiver message to notify (deliver_kind).
DELIVER = "mtss.deliver_caregiver_message"
NO_CHANNEL = "no delivery channel: notify's SendMessage is not available"


class Directory(Protocol):
    """Who the tenant's users are and their roles (identity, through runtime/directory.py)."""

    async def roles_of(self, tenant_id: str, ids: list[str]) -> dict[str, frozenset[str]]: ...


class CaregiverChannel(Protocol):
    """Hands an approved template's message for a caregiver to notify (SendMessage, deduped by `key`);
    returns the communication's status by notify's answer (pending, sent or failed) and a detail
    (notify's delivery id and state). Raises Unavailable when notify is away (retried), another
    DomainError when notify refuses the message."""

    async def send(
        self, tenant_id: str, caregiver_id: str, template: str, variables: dict[str, str], key: str
    ) -> tuple[str, str]: ...


class RiskLists(Protocol):
    """A class's risk list from progress (class summaries by risk), read for `on_behalf_of`."""

    async def risk_list(self, tenant_id: str, class_id: str, on_behalf_of: str) -> list[p.RiskEntry]: ...


@dataclass
class ImportCounts:
    interventions: int = 0
    enrollments: int = 0
    attendance: int = 0


def conflict_error(conflicts: list[Conflict]) -> FailedPrecondition:
    """A refusal naming the conflicting sessions: in the message, and as ErrorInfo metadata
    ("conflicts": kind:resource:session:other;...) a client can read without parsing prose."""
    shown = conflicts[:MAX_NAMED_CONFLICTS]
    text = "; ".join(f"{c.kind} {c.resource}: sessions {c.a} and {c.b}" for c in shown)
    more = f" (and {len(conflicts) - len(shown)} more)" if len(conflicts) > len(shown) else ""
    return FailedPrecondition(
        f"double booking refused: {text}{more}",
        reason="SCHEDULE_CONFLICT",
        metadata={"conflicts": ";".join(f"{c.kind}:{c.resource}:{c.a}:{c.b}" for c in shown)},
    )


def _code_for(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").upper()[:40] or "INTERVENTION"
    return f"{slug}-{uuid.uuid4().hex[:8].upper()}"


class MtssService:
    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        config: MtssConfig,
        *,
        directory: Directory | None = None,
        channel: CaregiverChannel | None = None,
        risk_lists: RiskLists | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.db = db
        self.outbox = outbox
        self.config = config
        # None only in in-process tests without identity: then user ids are not checked.
        self.directory = directory
        self.channel = channel
        self.risk_lists = risk_lists
        self.now = now
        self.jobs = JobQueue("mtss", [self.deliver_kind()])

    def deliver_kind(self) -> JobKind:
        """Handing a caregiver message to notify: a durable job committed with the message's log
        entry, started by this process as soon as that commits (a parent's message is on its way).
        notify away is retried with backoff, twelve attempts over at most 37 minutes (full-jitter
        windows of 2 s doubling to 10 min), then the message is logged failed with the reason. A
        crash anywhere leaves the job to be taken over when its lease expires; notify dedupes the
        send by its idempotency key (mtss:<communication id>), so nothing goes twice."""
        return JobKind(
            DELIVER,
            self.deliver_job,
            max_attempts=12,
            backoff_base_seconds=2.0,
            backoff_max_seconds=600.0,
            timeout_seconds=30.0,
            start_here=True,
        )

    # --- templates --------------------------------------------------------------------------------

    @staticmethod
    def templates() -> list[p.Template]:
        return sorted(p.BUILTIN_TEMPLATES, key=lambda t: (t.key, -t.version))

    @staticmethod
    def template(key: str, version: int) -> p.Template | None:
        found = [t for t in p.BUILTIN_TEMPLATES if t.key == key and (version == 0 or t.version == version)]
        return max(found, key=lambda t: t.version) if found else None

    # --- users ------------------------------------------------------------------------------------

    async def _check_users(
        self, v: Violations, tenant_id: str, wanted: dict[str, tuple[str, tuple[str, ...]]]
    ) -> None:
        """wanted: field path → (user id, roles any of which the user must hold)."""
        if self.directory is None or not wanted:
            return
        found = await self.directory.roles_of(tenant_id, [uid for uid, _ in wanted.values() if uid])
        for path, (uid, roles) in wanted.items():
            if not uid:
                continue
            held = found.get(uid.lower())
            if held is None:
                v.add(path, "is not a user of this tenant")
            elif roles and not held.intersection(roles):
                v.add(path, f"must be a user with one of the roles {', '.join(roles)}")

    # --- interventions ----------------------------------------------------------------------------

    async def create_intervention(
        self, caller: Principal, new: p.NewIntervention
    ) -> tuple[p.Intervention, int]:
        p.may_manage(caller)
        template = self.template(new.template_key, new.template_version)
        if template is not None:
            new = p.apply_template(new, template)
        v = Violations()
        p.check_new(v, new, template)
        wanted: dict[str, tuple[str, tuple[str, ...]]] = {"intervention.owner_id": (new.owner_id, p.MANAGERS)}
        for i, fid in enumerate(new.facilitator_ids):
            wanted[f"intervention.facilitator_ids[{i}]"] = (fid, ("facilitator", "teacher", "admin"))
        await self._check_users(v, caller.tenant_id, wanted)
        occurrences = []
        if not v.items:
            assert new.schedule and new.begin_date and new.end_date and new.goal and template
            try:
                # Bounded (see expand), but up to a few hundred ms of CPU for a rule that never
                # matches: off the event loop.
                occurrences = await asyncio.to_thread(expand, new.schedule, new.begin_date, new.end_date)
            except ValueError as err:
                v.add("intervention.schedule.rrule", str(err))
            else:
                if not occurrences:
                    v.add("intervention.schedule", "makes no sessions between begin_date and end_date")
        v.raise_if_any()  # nothing stored, no sessions made
        assert new.schedule and new.begin_date and new.end_date and new.goal and template
        intervention = p.Intervention(
            id=str(uuid.uuid4()),
            tenant_id=caller.tenant_id,
            code=new.code or _code_for(new.name),
            name=new.name,
            objectives=tuple(o.strip() for o in new.objectives if o.strip()),
            target_population=new.target_population,
            owner_id=new.owner_id.lower(),
            facilitator_ids=tuple(f.lower() for f in new.facilitator_ids),
            room=new.room.strip(),
            goal=new.goal,
            minutes_per_week=new.minutes_per_week,
            begin_date=new.begin_date,
            end_date=new.end_date,
            schedule=new.schedule,
            template_key=template.key,
            template_version=template.version,
            intervention_class=template.intervention_class,
            delivery_method=template.delivery_method,
            exit=template.exit,
            created_by=caller.subject,
        )
        facilitator = intervention.facilitator_ids[0] if intervention.facilitator_ids else ""
        sessions = [
            p.Session(
                id=str(uuid.uuid4()),
                intervention_id=intervention.id,
                starts_at=o.starts_at,
                ends_at=o.ends_at,
                local_date=o.local_date,
                room=intervention.room,
                facilitator_id=facilitator,
            )
            for o in occurrences
        ]
        async with self.db.transaction(caller.tenant_id) as session:
            booked = await store.room_and_facilitator_bookings(
                session,
                caller.tenant_id,
                [(s.starts_at, s.ends_at) for s in sessions],
                room=intervention.room,
                facilitator=facilitator,
                longest_minutes=MAX_DURATION,
            )
            mine = {s.id for s in sessions}
            proposed = [Booking(s.id, s.starts_at, s.ends_at, s.room, s.facilitator_id) for s in sessions]
            found = sorted(c for c in scan(booked + proposed) if c.a in mine or c.b in mine)
            if found:
                raise conflict_error(found)
            # Four round trips in all: the conflict query, the intervention with its sessions, its
            # event with its audit record, the commit (bench/mtss_year.py, docs/performance.md).
            created = await store.insert_intervention_with_sessions(session, intervention, sessions)
            if created is None:
                raise AlreadyExists(
                    f"an intervention with code {intervention.code} exists", reason="INTERVENTION_CODE_TAKEN"
                )
            await store.stage_events(
                self.outbox,
                session,
                [
                    (
                        "mtss.intervention.created",
                        convert.intervention_created_event(created, len(sessions)),
                        caller.tenant_id,
                    ),
                    (
                        f"{audit.SUBJECT_PREFIX}{self.outbox.context}.intervention.created",
                        audit.event(
                            self.outbox.context,
                            "intervention.created",
                            f"interventions/{created.id}",
                            tenant_id=caller.tenant_id,
                            after={
                                "code": created.code,
                                "template": f"{created.template_key}@{created.template_version}",
                                "owner_id": created.owner_id,
                                "sessions": len(sessions),
                            },
                        ),
                        caller.tenant_id,
                    ),
                ],
            )
        return created, len(sessions)

    async def _intervention(
        self, session: AsyncConnection, intervention_id: str, *, lock: bool = False
    ) -> p.Intervention:
        found = await store.get_intervention(session, intervention_id, lock=lock)
        if found is None:
            raise NotFound(f"intervention {intervention_id} not found", reason="INTERVENTION_NOT_FOUND")
        return found

    async def get_intervention(self, caller: Principal, intervention_id: str) -> tuple[p.Intervention, int]:
        async with self.db.transaction(caller.tenant_id) as session:
            found = await self._intervention(session, intervention_id)
            return found, await store.count_sessions(session, found.id)

    async def list_interventions(
        self, caller: Principal, query: str, page_size: int, page_token: str
    ) -> tuple[list[tuple[p.Intervention, int]], str]:
        """A page of the tenant's interventions (code order) with their session counts, and the next
        page's token ("" on the last page)."""
        size = pagination.page_size(page_size)
        position = pagination.decode_token(page_token, c=str, i=uuid.UUID)
        after = (position["c"], str(position["i"])) if position else None
        async with self.db.transaction(caller.tenant_id) as session:
            found = await store.page_interventions(session, query=query.strip(), limit=size + 1, after=after)
        token = ""
        if len(found) > size:
            last = found[size - 1][0]
            token = pagination.encode_token({"c": last.code, "i": last.id})
        return found[:size], token

    async def reapply_template(
        self, caller: Principal, intervention_id: str, version: int, acknowledged: set[str]
    ) -> tuple[p.Intervention, int]:
        p.may_manage(caller)
        async with self.db.transaction(caller.tenant_id) as session:
            current = await self._intervention(session, intervention_id, lock=True)
            template = self.template(current.template_key, version)
            if template is None or template.version != version:
                raise InvalidArgument(
                    "no such template version",
                    [FieldViolation("version", f"template {current.template_key} has no version {version}")],
                )
            updated = await store.update_intervention(session, p.reapply(current, template, acknowledged))
            await audit.record(
                self.outbox,
                session,
                "intervention.template_reapplied",
                f"interventions/{updated.id}",
                before={"template_version": current.template_version},
                after={"template_version": updated.template_version, "acknowledged": sorted(acknowledged)},
            )
            return updated, await store.count_sessions(session, updated.id)

    # --- sessions ---------------------------------------------------------------------------------

    async def list_sessions(self, caller: Principal, intervention_id: str) -> list[p.Session]:
        async with self.db.transaction(caller.tenant_id) as session:
            found = await self._intervention(session, intervention_id)
            return await store.list_sessions(session, found.id)

    async def adjust_session(
        self,
        caller: Principal,
        session_id: str,
        *,
        start: datetime | None,
        room: str | None,
        facilitator_id: str | None,
        cancel: bool,
        note: str,
    ) -> p.Session:
        p.may_manage(caller)
        v = Violations()
        if room is not None:
            p.check_text(v, room, "room", limit=p.MAX_NAME)
        if facilitator_id:
            await self._check_users(
                v, caller.tenant_id, {"facilitator_id": (facilitator_id, ("facilitator", "teacher", "admin"))}
            )
        v.raise_if_any()
        async with self.db.transaction(caller.tenant_id) as session:
            current = await store.get_session(session, session_id, lock=True)
            if current is None:
                raise NotFound(f"session {session_id} not found", reason="SESSION_NOT_FOUND")
            intervention = await self._intervention(session, current.intervention_id)
            changed = current
            if start is not None:
                zone = zone_named(intervention.schedule.time_zone)
                assert zone is not None
                length = current.ends_at - current.starts_at
                changed = replace(
                    changed, starts_at=start, ends_at=start + length, local_date=start.astimezone(zone).date()
                )
            if room is not None:
                changed = replace(changed, room=room.strip())
            if facilitator_id is not None:
                changed = replace(changed, facilitator_id=facilitator_id.lower())
            if note:
                changed = replace(changed, note=note)
            if cancel:
                changed = replace(changed, status="cancelled")
            if changed.status == "scheduled":
                enrolled = await store.active_students(session, [intervention.id])
                candidate = Booking(
                    changed.id,
                    changed.starts_at,
                    changed.ends_at,
                    changed.room,
                    changed.facilitator_id,
                    enrolled.get(intervention.id, frozenset()),
                )
                booked = await store.bookings(
                    session,
                    changed.starts_at,
                    changed.ends_at,
                    rooms=[changed.room],
                    facilitators=[changed.facilitator_id],
                    students=candidate.student_ids,
                )
                found = conflicts_for(candidate, booked)
                if found:
                    raise conflict_error(found)
            updated = await store.update_session(session, changed)
            await self.outbox.stage(session, "mtss.session.adjusted", convert.session_adjusted_event(updated))
            await audit.record(
                self.outbox,
                session,
                "session.cancelled" if cancel else "session.updated",
                f"sessions/{updated.id}",
                before=_session_audit(current),
                after=_session_audit(updated),
            )
        return updated

    async def reassign_facilitator(
        self, caller: Principal, intervention_id: str, from_id: str, to_id: str, effective: datetime | None
    ) -> tuple[int, p.Intervention, int]:
        """Upcoming sessions only: past sessions keep their facilitator, so the attendance recorded
        there stays attributed as it was."""
        p.may_manage(caller)
        v = Violations()
        await self._check_users(
            v, caller.tenant_id, {"to_facilitator_id": (to_id, ("facilitator", "teacher", "admin"))}
        )
        v.raise_if_any()
        after = max(effective or self.now(), self.now())
        to_id, from_id = to_id.lower(), from_id.lower()
        async with self.db.transaction(caller.tenant_id) as session:
            current = await self._intervention(session, intervention_id, lock=True)
            moved = await store.reassign_upcoming(session, current.id, after, from_id, to_id)
            if moved:
                booked = await store.bookings(
                    session,
                    min(s.starts_at for s in moved),
                    max(s.ends_at for s in moved),
                    facilitators=[to_id],
                )
                found = sorted(c for c in scan(booked) if c.kind == "facilitator")
                if found:
                    raise conflict_error(found)  # rolls the reassignment back
            facilitators = (
                [to_id if f == from_id else f for f in current.facilitator_ids] if from_id else [to_id]
            )
            if to_id not in facilitators:
                facilitators.append(to_id)
            updated = await store.update_intervention(
                session, replace(current, facilitator_ids=tuple(dict.fromkeys(facilitators)))
            )
            await audit.record(
                self.outbox,
                session,
                "intervention.facilitator_reassigned",
                f"interventions/{current.id}",
                before={"facilitator_ids": list(current.facilitator_ids)},
                after={
                    "facilitator_ids": list(updated.facilitator_ids),
                    "sessions_moved": len(moved),
                    "from": after.isoformat(),
                },
            )
            return len(moved), updated, await store.count_sessions(session, current.id)

    async def scan_conflicts(
        self, caller: Principal, start: datetime | None, end: datetime | None, kind: str = ""
    ) -> tuple[list[Conflict], int]:
        p.may_manage(caller)
        start = start or self.now()
        end = end or start + timedelta(days=366)
        if end <= start:
            raise InvalidArgument(
                "end_time must be after start_time", [_violation("end_time", "must be after start_time")]
            )
        if end - start > timedelta(days=MAX_SCAN_DAYS):
            text = f"must be at most {MAX_SCAN_DAYS} days after start_time (the longest intervention)"
            raise InvalidArgument(f"end_time {text}", [_violation("end_time", text)])
        async with self.db.transaction(caller.tenant_id) as session:
            booked = await store.bookings(session, start, end, everything=True, limit=MAX_SCAN_SESSIONS)
        if len(booked) > MAX_SCAN_SESSIONS:
            text = f"the range holds more than {MAX_SCAN_SESSIONS} sessions: scan a shorter one"
            raise InvalidArgument(text, [_violation("end_time", text)])
        return sorted(c for c in scan(booked) if not kind or c.kind == kind), len(booked)

    # --- enrollment -------------------------------------------------------------------------------

    def _today(self, intervention: p.Intervention) -> date:
        zone = zone_named(intervention.schedule.time_zone)
        return self.now().astimezone(zone).date() if zone else self.now().date()

    async def _enroll(
        self,
        session: AsyncConnection,
        caller: Principal,
        intervention: p.Intervention,
        students: list[tuple[str, str]],
        source: str,
        begin: date | None,
    ) -> list[p.Enrollment]:
        """Enrolls (student, reason) pairs, refusing the whole batch when one of them would be
        double-booked with the sessions of another intervention they are in."""
        begin = begin or max(intervention.begin_date, self._today(intervention))
        if not intervention.begin_date <= begin <= intervention.end_date:
            raise InvalidArgument(
                "the enrollment must begin while the intervention runs",
                [
                    _violation(
                        "begin_date",
                        f"must be between {intervention.begin_date} and {intervention.end_date}",
                    )
                ],
            )
        ids = [sid for sid, _ in students]
        # Only a student already in another intervention can be double-booked by this one.
        elsewhere = await store.enrolled_elsewhere(session, intervention.id, ids)
        sessions = (
            [s for s in await store.list_sessions(session, intervention.id) if s.status == "scheduled"]
            if elsewhere
            else []
        )
        upcoming = [s for s in sessions if s.local_date >= begin]
        if upcoming:
            booked = await store.bookings(
                session,
                upcoming[0].starts_at,
                upcoming[-1].ends_at,
                students=elsewhere,
            )
            others = [b for b in booked if b.session_id not in {s.id for s in sessions}]
            new = frozenset(ids)
            proposed = [Booking(s.id, s.starts_at, s.ends_at, student_ids=new) for s in upcoming]
            mine = {s.id for s in upcoming}
            found = sorted(
                c for c in scan(others + proposed) if c.kind == "student" and (c.a in mine) != (c.b in mine)
            )
            if found:
                raise conflict_error(found)
        now = self.now()
        made = await store.insert_enrollments(
            session,
            caller.tenant_id,
            [
                p.Enrollment(
                    id=str(uuid.uuid4()),
                    intervention_id=intervention.id,
                    student_id=sid,
                    source=source,
                    reason=reason,
                    enrolled_by=caller.subject,
                    enrolled_at=now,
                    begin_date=begin,
                )
                for sid, reason in students
            ],
        )
        for e in made:
            await self.outbox.stage(session, "mtss.enrollment.created", convert.enrollment_created_event(e))
            await audit.record(
                self.outbox,
                session,
                "enrollment.created",
                f"interventions/{intervention.id}/enrollments/{e.student_id}",
                after={"source": e.source, "reason": e.reason[:200], "begin_date": e.begin_date.isoformat()},
            )
        return made

    async def enroll_students(
        self, caller: Principal, intervention_id: str, student_ids: list[str], reason: str, begin: date | None
    ) -> list[p.Enrollment]:
        p.may_manage(caller)
        ids = list(dict.fromkeys(s.lower() for s in student_ids))
        v = Violations()
        await self._check_users(
            v, caller.tenant_id, {f"student_ids[{i}]": (s, ("student",)) for i, s in enumerate(ids)}
        )
        v.raise_if_any()
        async with self.db.transaction(caller.tenant_id) as session:
            intervention = await self._intervention(session, intervention_id, lock=True)
            return await self._enroll(
                session,
                caller,
                intervention,
                [(s, reason or "enrolled by hand") for s in ids],
                "manual",
                begin,
            )

    async def enroll_from_risk_list(
        self,
        caller: Principal,
        intervention_id: str,
        csv_text: str,
        min_risk: float,
        dry_run: bool,
        begin: date | None,
        *,
        class_id: str = "",
        max_students: int = 0,
    ) -> tuple[list[p.Candidate], list[p.Enrollment]]:
        """The risk list is an uploaded CSV or a class's summaries from progress (read on behalf of
        the caller, so a teacher sees only the classes they teach); the criteria screen it (the
        preview a dry run returns), then the eligible students are enrolled in one transaction."""
        p.may_manage(caller)
        v = Violations()
        entries: list[p.RiskEntry] = []
        if class_id and csv_text:
            v.add("class_id", "give either csv or class_id, not both")
        elif class_id and self.risk_lists is None:
            v.add("class_id", "progress's risk lists are not available here: upload a csv")
        elif not class_id:
            entries = p.parse_risk_csv(v, csv_text, "csv")
        if max_students < 0:
            v.add("max_students", "must not be negative")
        v.raise_if_any()
        if class_id:
            assert self.risk_lists is not None
            entries = await self.risk_lists.risk_list(caller.tenant_id, class_id.lower(), caller.subject)
        ids = list(dict.fromkeys(e.student_id.lower() for e in entries))
        entries = [replace(e, student_id=e.student_id.lower()) for e in entries]
        if self.directory is not None:
            roles = await self.directory.roles_of(caller.tenant_id, ids)
            known = {uid for uid, r in roles.items() if "student" in r}
        else:
            known = set(ids)
        async with self.db.transaction(caller.tenant_id) as session:
            intervention = await self._intervention(session, intervention_id, lock=True)
            enrolled = {e.student_id for e in await store.list_enrollments(session, intervention.id)}
            candidates = p.screen(entries, min_risk, enrolled, known, max_students)
            if dry_run:
                return candidates, []
            chosen = [(c.student_id, c.reason) for c in candidates if c.eligible]
            made = (
                await self._enroll(session, caller, intervention, chosen, "risk_list", begin)
                if chosen
                else []
            )
            return candidates, made

    async def withdraw(
        self, caller: Principal, intervention_id: str, student_id: str, effective: date | None, reason: str
    ) -> p.Enrollment:
        """Ends the enrollment on `effective` (its last day). Its sessions after that date no longer
        book the student (bookings count active enrollments only) and the attendance and progress
        recorded so far stay."""
        p.may_manage(caller)
        async with self.db.transaction(caller.tenant_id) as session:
            intervention = await self._intervention(session, intervention_id)
            current = await store.get_enrollment(session, intervention.id, student_id.lower())
            if current is None:
                raise NotFound(
                    "the student is not enrolled in this intervention", reason="ENROLLMENT_NOT_FOUND"
                )
            if current.status != "active":
                raise FailedPrecondition(
                    f"the enrollment is already {current.status}", reason="ENROLLMENT_ENDED"
                )
            end = effective or self._today(intervention)
            if end < current.begin_date:
                raise InvalidArgument(
                    "effective_date is before the enrollment began",
                    [_violation("effective_date", f"must be on or after {current.begin_date.isoformat()}")],
                )
            updated = await store.update_enrollment(
                session, replace(current, status="withdrawn", end_date=end, exit_reason=reason)
            )
            released = sum(
                1
                for s in await store.list_sessions(session, intervention.id)
                if s.local_date > end and s.status == "scheduled"
            )
            await self.outbox.stage(
                session, "mtss.enrollment.withdrawn", convert.enrollment_withdrawn_event(updated, released)
            )
            await audit.record(
                self.outbox,
                session,
                "enrollment.withdrawn",
                f"interventions/{intervention.id}/enrollments/{updated.student_id}",
                before={"status": current.status},
                after={"status": "withdrawn", "end_date": end.isoformat(), "sessions_released": released},
                reason=reason,
            )
        return updated

    # --- attendance and progress ------------------------------------------------------------------

    async def record_attendance(
        self, caller: Principal, session_id: str, records: list[p.Attendance]
    ) -> list[p.Attendance]:
        v = Violations()
        seen: set[str] = set()
        for i, r in enumerate(records):
            if r.status not in p.ATTENDANCE_STATUSES:
                v.add(f"records[{i}].status", "is required: present, absent, tardy or excused")
            if r.student_id.lower() in seen:
                v.add(f"records[{i}].student_id", "appears twice")
            seen.add(r.student_id.lower())
            if r.session_id and r.session_id.lower() != session_id.lower():
                v.add(f"records[{i}].session_id", "must be empty or the session's id")
        v.raise_if_any()
        async with self.db.transaction(caller.tenant_id) as session:
            current = await store.get_session(session, session_id)
            if current is None:
                raise NotFound(f"session {session_id} not found", reason="SESSION_NOT_FOUND")
            intervention = await self._intervention(session, current.intervention_id)
            p.may_facilitate(caller, intervention, current)
            if current.status != "scheduled":
                raise FailedPrecondition("the session was cancelled", reason="SESSION_CANCELLED")
            enrolled = {e.student_id: e for e in await store.list_enrollments(session, intervention.id)}
            for i, r in enumerate(records):
                e = enrolled.get(r.student_id.lower())
                if (
                    e is None
                    or e.begin_date > current.local_date
                    or (e.end_date and e.end_date < current.local_date)
                ):
                    v.add(
                        f"records[{i}].student_id",
                        "was not enrolled in this intervention on the session's date",
                    )
            v.raise_if_any()
            length = int((current.ends_at - current.starts_at).total_seconds() // 60)
            clean = [
                replace(
                    r,
                    session_id=current.id,
                    student_id=r.student_id.lower(),
                    # Present or tardy without minutes: the whole session; absent or excused: none.
                    minutes=(min(r.minutes, length) if r.minutes else length)
                    if r.status in p.ATTENDED
                    else 0,
                    recorded_by=caller.subject,
                )
                for r in records
            ]
            saved = await store.upsert_attendance(session, caller.tenant_id, intervention.id, clean)
            await self.outbox.stage(
                session,
                "mtss.attendance.recorded",
                convert.attendance_recorded_event(intervention.id, current.id, saved),
            )
            await audit.record(
                self.outbox,
                session,
                "attendance.recorded",
                f"sessions/{current.id}/attendance",
                after={
                    "records": [
                        {"student_id": a.student_id, "status": a.status, "minutes": a.minutes} for a in saved
                    ]
                },
            )
        return saved

    async def record_progress(
        self, caller: Principal, intervention_id: str, entry: p.ProgressEntry
    ) -> p.ProgressEntry:
        v = Violations()
        if entry.score is None and not entry.rating and not entry.note.strip():
            v.add("entry", "give a score, a rating or a note")
        if entry.score is not None:
            p.check_score(v, entry.score, "entry.score")
        v.raise_if_any()
        async with self.db.transaction(caller.tenant_id) as session:
            intervention = await self._intervention(session, intervention_id)
            linked = None
            if entry.session_id:
                linked = await store.get_session(session, entry.session_id)
                if linked is None or linked.intervention_id != intervention.id:
                    raise InvalidArgument(
                        "unknown session",
                        [_violation("entry.session_id", "is not a session of this intervention")],
                    )
            p.may_facilitate(caller, intervention, linked)
            enrollment = await store.get_enrollment(session, intervention.id, entry.student_id.lower())
            if enrollment is None:
                raise InvalidArgument(
                    "not enrolled", [_violation("entry.student_id", "is not enrolled in this intervention")]
                )
            saved = await store.insert_progress(
                session,
                caller.tenant_id,
                replace(
                    entry,
                    id=str(uuid.uuid4()),
                    intervention_id=intervention.id,
                    student_id=enrollment.student_id,
                    recorded_by=caller.subject,
                ),
            )
            await self.outbox.stage(session, "mtss.progress.recorded", convert.progress_recorded_event(saved))
            await audit.record(
                self.outbox,
                session,
                "progress.recorded",
                f"interventions/{intervention.id}/progress/{saved.id}",
                after={
                    "student_id": saved.student_id,
                    "date": saved.on.isoformat(),
                    "score": saved.score,
                    "rating": saved.rating,
                },
            )
        return saved

    # --- analysis and dashboards ------------------------------------------------------------------

    def _student(
        self,
        intervention: p.Intervention,
        e: p.Enrollment,
        history: list[p.ProgressEntry],
        totals: tuple[int, int, int],
    ) -> tuple[p.Dosage, an.Analysis, p.Decision]:
        today = self._today(intervention)
        last_day = min(x for x in (today, e.end_date, intervention.end_date) if x is not None)
        start = e.begin_date if e.begin_date < intervention.goal.goal_date else intervention.begin_date
        goal = an.Goal(
            intervention.goal.baseline, start, intervention.goal.target, intervention.goal.goal_date
        )
        points = [an.Point(h.on, h.score) for h in history if h.score is not None]
        analysis = an.analyze(points, goal)
        held, attended, minutes = totals
        dosage = p.dosage(intervention.minutes_per_week, e.begin_date, last_day, held, attended, minutes)
        weeks = max(0.0, (last_day - e.begin_date).days / 7)
        decision = p.decide(
            analysis,
            dosage,
            [pt.score for pt in sorted(points, key=lambda x: x.on)],
            goal.target,
            goal.increasing,
            weeks,
            intervention.exit,
            self.config.fidelity_threshold,
        )
        return dosage, analysis, decision

    async def student_view(self, caller: Principal, intervention_id: str, student_id: str) -> p.StudentView:
        student_id = student_id.lower()
        async with self.db.transaction(caller.tenant_id) as session:
            intervention = await self._intervention(session, intervention_id)
            if not caller.has_any(*p.MANAGERS, "service"):
                facilitates = caller.has_any("facilitator") and caller.subject in intervention.facilitator_ids
                parent = caller.has_any("caregiver") and await store.is_linked(
                    session, caller.subject, student_id
                )
                if not (facilitates or parent):
                    raise PermissionDenied("caregivers read their own children's summaries only")
            e = await store.get_enrollment(session, intervention.id, student_id)
            if e is None:
                raise NotFound(
                    "the student is not enrolled in this intervention", reason="ENROLLMENT_NOT_FOUND"
                )
            history = await store.list_progress(session, intervention.id, student_id)
            totals = (await store.attendance_totals(session, intervention.id)).get(student_id, (0, 0, 0))
        dosage, analysis, decision = self._student(intervention, e, history, totals)
        return p.StudentView(e, dosage, analysis, decision, history)

    async def group_view(self, caller: Principal, intervention_id: str) -> p.GroupView:
        async with self.db.transaction(caller.tenant_id) as session:
            intervention = await self._intervention(session, intervention_id)
            p.may_facilitate(caller, intervention, None)
            enrolled = await store.list_enrollments(session, intervention.id)
            history = await store.list_scores(session, intervention.id)
            totals = await store.attendance_totals(session, intervention.id)
            held, upcoming = await store.session_status_counts(session, intervention.id, self.now())
        by_student: dict[str, list[p.ProgressEntry]] = {}
        for h in history:
            by_student.setdefault(h.student_id, []).append(h)
        rows = []
        for e in enrolled:
            mine = by_student.get(e.student_id, [])
            dosage, analysis, decision = self._student(
                intervention, e, mine, totals.get(e.student_id, (0, 0, 0))
            )
            scores = [h.score for h in mine if h.score is not None]
            rows.append(p.StudentRow(e, dosage, scores[-1] if scores else None, analysis, decision))
        return p.GroupView(intervention, held + upcoming, held, upcoming, rows)

    async def confirm_exit(
        self, caller: Principal, intervention_id: str, student_id: str, override: str
    ) -> tuple[p.Enrollment, tuple[str, ...]]:
        """An exit happens only here: the recommendation alone changes nothing."""
        p.may_manage(caller)
        student_id = student_id.lower()
        async with self.db.transaction(caller.tenant_id) as session:
            intervention = await self._intervention(session, intervention_id, lock=True)
            e = await store.get_enrollment(session, intervention.id, student_id)
            if e is None:
                raise NotFound(
                    "the student is not enrolled in this intervention", reason="ENROLLMENT_NOT_FOUND"
                )
            if e.status != "active":
                raise FailedPrecondition(f"the enrollment is already {e.status}", reason="ENROLLMENT_ENDED")
            history = await store.list_progress(session, intervention.id, student_id)
            totals = (await store.attendance_totals(session, intervention.id)).get(student_id, (0, 0, 0))
            _, _, decision = self._student(intervention, e, history, totals)
            if not decision.exit_recommended and not override.strip():
                raise FailedPrecondition(
                    "the exit criteria are not met: " + "; ".join(decision.reasons[-2:]),
                    reason="EXIT_NOT_RECOMMENDED",
                )
            reasons = decision.reasons if decision.exit_recommended else (f"override: {override.strip()}",)
            updated = await store.update_enrollment(
                session,
                replace(
                    e,
                    status="exited",
                    end_date=self._today(intervention),
                    exit_confirmed_by=caller.subject,
                    exit_confirmed_at=self.now(),
                    exit_reason=reasons[-1][:1000],
                ),
            )
            await self.outbox.stage(
                session, "mtss.exit.confirmed", convert.exit_confirmed_event(updated, reasons)
            )
            await audit.record(
                self.outbox,
                session,
                "enrollment.exit_confirmed",
                f"interventions/{intervention.id}/enrollments/{student_id}",
                before={"status": e.status},
                after={"status": "exited", "recommended": decision.exit_recommended},
                reason=reasons[-1][:500],
            )
        return updated, reasons

    # --- caregivers and communications ------------------------------------------------------------

    async def link_caregiver(self, caller: Principal, caregiver_id: str, student_id: str) -> None:
        """The caregiver-student link lives in mtss (docs/mtss.md): identity knows roles, not families.
        Only admins set it, and both ends must be users of the tenant with the right role."""
        if not caller.has_any("admin", "service"):
            raise PermissionDenied("only admins link caregivers to students")
        caregiver_id, student_id = caregiver_id.lower(), student_id.lower()
        v = Violations()
        await self._check_users(
            v,
            caller.tenant_id,
            {"caregiver_id": (caregiver_id, ("caregiver",)), "student_id": (student_id, ("student",))},
        )
        v.raise_if_any()
        async with self.db.transaction(caller.tenant_id) as session:
            if await store.link_caregiver(
                session, caller.tenant_id, caregiver_id, student_id, caller.subject
            ):
                await audit.record(
                    self.outbox,
                    session,
                    "caregiver.linked",
                    f"students/{student_id}/caregivers/{caregiver_id}",
                    after={"caregiver_id": caregiver_id, "student_id": student_id},
                )

    async def send_caregiver_message(
        self, caller: Principal, intervention_id: str, student_id: str, template: str
    ) -> p.Communication:
        """One approved template to the student's linked caregivers (the first one's log entry is
        returned, as committed: queued; each caregiver gets their own). The log entries, their audit
        records and one delivery job each (deliver_job) commit together, so a message is never sent
        without a trace nor left unsent by a crash; its status follows in the log."""
        p.may_manage(caller)
        student_id = student_id.lower()
        if template not in p.CAREGIVER_TEMPLATES:
            raise InvalidArgument(
                "not an approved template",
                [_violation("template", "must be one of " + ", ".join(p.CAREGIVER_TEMPLATES))],
            )
        view = await self.student_view(caller, intervention_id, student_id)
        async with self.db.transaction(caller.tenant_id) as session:
            intervention = await self._intervention(session, intervention_id)
            caregivers = await store.caregivers_of(session, student_id)
            if not caregivers:
                raise FailedPrecondition("the student has no linked caregiver", reason="NO_CAREGIVER")
            # As of now: the job sends what the dashboard said when the message was asked for.
            variables = {
                "intervention": intervention.name,
                "attendance_rate": f"{view.dosage.attendance_rate:.0%}",
                "delivered_minutes": str(view.dosage.delivered_minutes),
                "recommendation": view.decision.recommendation,
            }
            queued = []
            for caregiver in caregivers:
                c = await store.insert_communication(
                    session,
                    caller.tenant_id,
                    p.Communication(
                        id=str(uuid.uuid4()),
                        intervention_id=intervention.id,
                        student_id=student_id,
                        caregiver_id=caregiver,
                        template=template,
                        status="queued",
                        detail="",
                        sent_by=caller.subject,
                    ),
                )
                queued.append(c)
                await audit.record(
                    self.outbox,
                    session,
                    "communication.queued",
                    f"students/{student_id}/communications/{c.id}",
                    after={
                        "template": template,
                        "recipient_id": caregiver,
                        "body_ref": f"communications/{c.id}",
                    },
                )
                await self.jobs.enqueue(
                    session,
                    DELIVER,
                    {"communication_id": c.id, "variables": variables},
                    key=c.id,
                    tenant_id=caller.tenant_id,
                )
        return queued[0]

    async def deliver_job(self, job: Job, session: AsyncConnection) -> None:
        """One attempt at handing a caregiver message to notify (deliver_kind), in the job's
        transaction: notify's answer (pending, or sent/failed at once) is logged and audited with
        the job's completion. notify away (Unavailable) or any unexpected failure is retried by the
        job runner; at the last attempt, and at once for a refusal (notify has no such template, the
        caregiver is unknown to it), the message is logged failed with the reason, never left
        queued. notify's delivery events may have moved it on meanwhile: the log only moves forward
        (store.set_communication_status)."""
        c = await store.get_communication(session, str(job.payload["communication_id"]))
        if c is None or c.status != "queued":
            return  # notify's word came first (a retried or taken-over job): it has the message
        if self.channel is None:
            status, detail = "failed", NO_CHANNEL
        else:
            try:
                status, detail = await self.channel.send(
                    job.tenant_id or "", c.caregiver_id, c.template, dict(job.payload["variables"]), c.id
                )
            except Exception as err:  # every failure ends as the message's status, never lost
                refused = isinstance(err, DomainError) and not isinstance(err, Unavailable)
                if not refused and not job.last_attempt:
                    raise
                status, detail = "failed", f"{type(err).__name__}: {err}"
                if not refused:
                    detail = f"gave up after {job.attempts} attempts: {detail}"
        await self._settle(session, c.id, status, detail[:500])

    async def apply_delivery(self, session: AsyncConnection, comm_id: str, status: str, detail: str) -> None:
        """notify's later word on a message (sent, read or given up): the communication log follows,
        and the delivery is audited as a communication's outcome. Called by the consumer of notify's
        delivery events inside its transaction (tenant-scoped, the event claimed in the inbox)."""
        if parse_id(comm_id) is None:
            return
        await self._settle(session, comm_id, status, detail)

    async def _settle(self, session: AsyncConnection, comm_id: str, status: str, detail: str) -> None:
        """The message's new status and its audit record, when it moves the message forward; an
        update that arrives late (an earlier status, or the one it has) changes and audits nothing.
        Not found: another context's key, or another tenant's row, invisible here anyway."""
        updated = await store.set_communication_status(session, comm_id, status, detail)
        if updated is None:
            return
        await audit.record(
            self.outbox,
            session,
            f"communication.{status}",
            f"students/{updated.student_id}/communications/{updated.id}",
            after={
                "template": updated.template,
                "recipient_id": updated.caregiver_id,
                "status": status,
                "detail": detail[:200],
            },
        )

    async def list_communications(self, caller: Principal, student_id: str) -> list[p.Communication]:
        p.may_manage(caller)
        async with self.db.transaction(caller.tenant_id) as session:
            return await store.list_communications(session, student_id.lower())

    # --- calendars and Ed-Fi ----------------------------------------------------------------------

    async def calendar(self, caller: Principal, user_id: str) -> tuple[str, int]:
        """A facilitator's or student's sessions as iCalendar. Users read their own; staff anyone's."""
        uid = caller.subject if user_id == "me" else user_id.lower()
        if uid != caller.subject and not caller.has_any(*p.MANAGERS, "service"):
            raise PermissionDenied("you may read your own calendar only")
        async with self.db.transaction(caller.tenant_id) as session:
            found = await store.sessions_of_user(session, uid)
        return interop.calendar(f"Intervention sessions of {uid}", found, self.now()), len(found)

    async def export_edfi(self, caller: Principal) -> str:
        if not caller.has_any("admin", "service"):
            raise PermissionDenied("only admins export")
        async with self.db.transaction(caller.tenant_id) as session:
            found = await store.list_interventions(session)
            codes = {i.id: i.code for i in found}
            sessions = {i.id: await store.list_sessions(session, i.id) for i in found}
            enrolled = await store.list_enrollments(session)
            attended = await store.list_attendance(session)
        by_id = {s.id: s for ss in sessions.values() for s in ss}
        doc = {
            "interventions": [interop.intervention_doc(i, sessions[i.id]) for i in found],
            "studentInterventionAssociations": [
                interop.enrollment_doc(codes[e.intervention_id], e)
                for e in sorted(enrolled, key=lambda e: (codes[e.intervention_id], e.student_id))
            ],
            "studentInterventionAttendanceEvents": [
                interop.attendance_doc(codes[by_id[a.session_id].intervention_id], by_id[a.session_id], a)
                for a in sorted(
                    attended,
                    key=lambda a: (
                        codes[by_id[a.session_id].intervention_id],
                        by_id[a.session_id].starts_at,
                        a.student_id,
                    ),
                )
            ],
        }
        return json.dumps(doc, sort_keys=True, indent=1)

    async def export_edfi_pages(
        self, caller: Principal, page_size: int = 0, resources: tuple[str, ...] = ()
    ) -> AsyncIterator[tuple[str, str, int]]:
        """export_edfi's document in pages (resource, JSON array of its documents, count), for a
        tenant whose year does not fit in one message: interventions (with their sessions), then
        enrollments, then attendance events, in export_edfi's order. A page holds at most
        `page_size` documents and about EXPORT_PAGE_BYTES of JSON, so no message nears gRPC's 4 MB
        whatever the documents weigh. The attendance is read through a server-side cursor: the
        year is never in memory at once. Read in one transaction (each resource as of its own
        statement, PostgreSQL's read committed). `resources` limits it to some of the three
        (empty: all)."""
        if not caller.has_any("admin", "service"):
            raise PermissionDenied("only admins export")
        v = Violations()
        if page_size < 0:
            v.add("page_size", "must be >= 0")
        for n, r in enumerate(resources):
            if r not in EDFI_RESOURCES:
                v.add(f"resources[{n}]", "must be one of " + ", ".join(EDFI_RESOURCES))
        v.raise_if_any()
        wanted = set(resources or EDFI_RESOURCES)
        size = page_size or DEFAULT_EXPORT_PAGE
        async with self.db.transaction(caller.tenant_id) as session:
            found = await store.list_interventions(session)
            codes = {i.id: i.code for i in found}

            async def intervention_docs() -> AsyncIterator[dict[str, object]]:
                for i in found:
                    yield interop.intervention_doc(i, await store.list_sessions(session, i.id))

            if "interventions" in wanted:
                async for page in _pages("interventions", intervention_docs(), size):
                    yield page
            enrolled = sorted(
                await store.list_enrollments(session), key=lambda e: (codes[e.intervention_id], e.student_id)
            )

            async def enrollment_docs() -> AsyncIterator[dict[str, object]]:
                for e in enrolled:
                    yield interop.enrollment_doc(codes[e.intervention_id], e)

            if "studentInterventionAssociations" in wanted:
                async for page in _pages("studentInterventionAssociations", enrollment_docs(), size):
                    yield page

            async def attendance_docs() -> AsyncIterator[dict[str, object]]:
                async for code, s, a in store.stream_attendance_for_export(session):
                    yield interop.attendance_doc(code, s, a)

            if "studentInterventionAttendanceEvents" in wanted:
                async for page in _pages("studentInterventionAttendanceEvents", attendance_docs(), size):
                    yield page

    async def import_edfi(self, caller: Principal, text: str) -> ImportCounts:
        """Restores what export_edfi wrote into the caller's tenant. An intervention whose code the
        tenant already has is skipped with its enrollments and attendance."""
        if not caller.has_any("admin", "service"):
            raise PermissionDenied("only admins import")
        doc = edfi_import.read_export(text)  # every value checked before anything is stored
        docs = list(doc["interventions"])
        associations = list(doc["studentInterventionAssociations"])
        events = list(doc["studentInterventionAttendanceEvents"])
        counts = ImportCounts()
        async with self.db.transaction(caller.tenant_id) as session:
            made: dict[str, tuple[p.Intervention, dict[str, p.Session]]] = {}
            for n, d in enumerate(docs):
                try:
                    ext_sessions = d["_ext"]["learnflow"]["sessions"]
                    got = interop.intervention_from(
                        d, str(uuid.uuid4()), caller.tenant_id, [str(uuid.uuid4()) for _ in ext_sessions]
                    )
                except (ValueError, KeyError, TypeError) as err:
                    raise InvalidArgument(
                        "not an Ed-Fi export",
                        [_violation(f"json.interventions[{n}]", f"{type(err).__name__}: {err}")],
                    ) from err
                i = replace(got.intervention, created_by=caller.subject)
                created = await store.insert_intervention(session, i)
                if created is None:
                    continue
                await store.insert_sessions(session, caller.tenant_id, got.sessions)
                made[i.code] = (created, {s.starts_at.astimezone(UTC).isoformat(): s for s in got.sessions})
                counts.interventions += 1
                await audit.record(
                    self.outbox,
                    session,
                    "intervention.imported",
                    f"interventions/{created.id}",
                    after={"code": created.code},
                )
            for n, a in enumerate(associations):
                try:
                    code = a["interventionReference"]["interventionIdentificationCode"]
                    x = a["_ext"]["learnflow"]
                    if code not in made:
                        continue
                    e = p.Enrollment(
                        id=str(uuid.uuid4()),
                        intervention_id=made[code][0].id,
                        student_id=str(a["studentReference"]["studentUniqueId"]),
                        source="import"
                        if x["source"] not in ("manual", "risk_list", "import")
                        else x["source"],
                        reason=str(a["diagnosticStatement"]),
                        enrolled_by=str(x["enrolledBy"]),
                        enrolled_at=None,
                        begin_date=date.fromisoformat(x["beginDate"]),
                    )
                    status = str(x["status"])
                    end = date.fromisoformat(x["endDate"]) if x["endDate"] else None
                except (ValueError, KeyError, TypeError) as err:
                    raise InvalidArgument(
                        "not an Ed-Fi export",
                        [
                            _violation(
                                f"json.studentInterventionAssociations[{n}]", f"{type(err).__name__}: {err}"
                            )
                        ],
                    ) from err
                for inserted in await store.insert_enrollments(session, caller.tenant_id, [e]):
                    if status != "active" or end is not None:
                        await store.update_enrollment(
                            session,
                            replace(
                                inserted,
                                status=status if status in ("active", "withdrawn", "exited") else "active",
                                end_date=end,
                                exit_confirmed_by=str(x["exitConfirmedBy"]),
                                exit_reason=str(x["exitReason"]),
                            ),
                        )
                    counts.enrollments += 1
            by_session: dict[tuple[str, str], list[p.Attendance]] = {}
            for n, ev in enumerate(events):
                try:
                    code = ev["interventionReference"]["interventionIdentificationCode"]
                    if code not in made:
                        continue
                    x = ev["_ext"]["learnflow"]
                    start = datetime.fromisoformat(x["sessionStart"]).astimezone(UTC)
                    target = made[code][1][start.isoformat()]
                    status = interop.STATUS_OF[
                        ev["attendanceEventCategoryDescriptor"].removeprefix(interop.CATEGORY)
                    ]
                    record = p.Attendance(
                        session_id=target.id,
                        student_id=str(ev["studentReference"]["studentUniqueId"]),
                        status=status,
                        minutes=int(ev["interventionDuration"]),
                        reason_code=str(x["reasonCode"]),
                        note=str(ev["attendanceEventReason"]),
                        recorded_by=str(x["recordedBy"]),
                    )
                except (ValueError, KeyError, TypeError) as err:
                    raise InvalidArgument(
                        "not an Ed-Fi export",
                        [
                            _violation(
                                f"json.studentInterventionAttendanceEvents[{n}]",
                                f"{type(err).__name__}: {err}",
                            )
                        ],
                    ) from err
                by_session.setdefault((made[code][0].id, target.id), []).append(record)
            for (intervention_id, _), records in by_session.items():
                counts.attendance += len(
                    await store.upsert_attendance(session, caller.tenant_id, intervention_id, records)
                )
        return counts


DEFAULT_EXPORT_PAGE = 1000
# A page's JSON stops growing past this: a quarter of gRPC's default 4 MB message limit, so a page
# fits with room for one more large document (an intervention with a year of sessions is ~20 KB).
EXPORT_PAGE_BYTES = 1_000_000


async def _pages(
    resource: str, docs: AsyncIterator[dict[str, object]], size: int
) -> AsyncIterator[tuple[str, str, int]]:
    """Groups documents into pages of at most `size` documents and about EXPORT_PAGE_BYTES."""
    parts: list[str] = []
    weight = 0
    async for doc in docs:
        text = json.dumps(doc, sort_keys=True)
        parts.append(text)
        weight += len(text) + 1
        if len(parts) >= size or weight >= EXPORT_PAGE_BYTES:
            yield resource, "[" + ",".join(parts) + "]", len(parts)
            parts, weight = [], 0
    if parts:
        yield resource, "[" + ",".join(parts) + "]", len(parts)


def join_pages(pages: list[tuple[str, str]]) -> str:
    """The document export_edfi writes, from export_edfi_pages' (resource, json) pages: what a client
    of the streamed export does before ImportEdFi (tests use it for the round trip)."""
    doc: dict[str, list[object]] = {r: [] for r in EDFI_RESOURCES}
    for resource, text in pages:
        doc[resource].extend(json.loads(text))
    return json.dumps(doc, sort_keys=True, indent=1)


EDFI_RESOURCES = (
    "interventions",
    "studentInterventionAssociations",
    "studentInterventionAttendanceEvents",
)


def _violation(path: str, text: str) -> FieldViolation:
    return FieldViolation(path, text)


def _session_audit(s: p.Session) -> dict[str, object]:
    return {
        "starts_at": s.starts_at.isoformat(),
        "room": s.room,
        "facilitator_id": s.facilitator_id,
        "status": s.status,
    }
