"""Struggle episodes during one unit of work: the open alerts of the students it holds locked, what
the activities and checks do to them (open, clear, expire), and writing that back in a few statements
(docs/progress-model.md, "Episodes").

An alert is an episode of (student, rule, key); at most one is open at a time (a partial unique
index). Every writer holds the student's row lock while it reads and changes that student's
episodes, so what is read here stays true until commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.progress import convert, store
from services.progress.domain.records import BY_QUIET_PERIOD, OPEN, RESOLVED, StruggleAlert
from services.progress.domain.struggle import Detection, EpisodeKey, StruggleDetector
from services.runtime.events.outbox import Outbox


@dataclass
class _Episode:
    opened_at: datetime | None  # None: opened in this unit of work (its created_at is the commit's)
    alert_id: str | None = None  # set for an alert already stored
    new_row: dict[str, Any] | None = None  # set for an alert opened here, to insert


class Episodes:
    def __init__(self, open_alerts: list[StruggleAlert], now: datetime):
        self.now = now
        self._open: dict[str, dict[EpisodeKey, _Episode]] = {}
        for a in open_alerts:
            self._open.setdefault(a.student_id, {})[(a.rule, a.key)] = _Episode(a.created_at, a.id)
        self._resolve: dict[str, list[str]] = {}  # resolution -> stored alerts to close
        self._new: list[dict[str, Any]] = []  # alerts to insert, in the order they were opened
        self.changed: set[str] = set()  # students whose open-alert count may have changed

    def keys(self, student_id: str) -> set[EpisodeKey]:
        return set(self._open.get(student_id, ()))

    def count(self, student_id: str) -> int:
        return len(self._open.get(student_id, ()))

    def open(self, student_id: str, d: Detection) -> None:
        row = {
            "id": uuid.uuid4(),
            "student_id": student_id,
            "rule": d.rule,
            "key": d.key,
            "explanation": d.explanation,
            "severity": d.severity.value,
            "state": OPEN,
            "resolved_at": None,
            "resolution": None,
        }
        self._new.append(row)
        self._open.setdefault(student_id, {})[d.episode] = _Episode(None, new_row=row)
        self.changed.add(student_id)

    def close(self, student_id: str, key: EpisodeKey, resolution: str) -> None:
        episode = self._open[student_id].pop(key)
        if episode.new_row is not None:  # opened and closed in this unit of work: stored closed
            episode.new_row.update(state=RESOLVED, resolved_at=self.now, resolution=resolution)
        else:
            assert episode.alert_id is not None
            self._resolve.setdefault(resolution, []).append(episode.alert_id)
        self.changed.add(student_id)

    def expire(self, student_id: str, detector: StruggleDetector) -> None:
        """Closes the student's episodes open for the quiet period (as of `now`)."""
        for key, episode in list(self._open.get(student_id, {}).items()):
            if episode.opened_at is not None and detector.expired(episode.opened_at, self.now):
                self.close(student_id, key, BY_QUIET_PERIOD)

    async def write(self, session: AsyncConnection, tenant_id: str, outbox: Outbox) -> None:
        """Closes and opens the alerts, and stages struggle.detected for every alert opened."""
        for resolution, ids in self._resolve.items():
            await store.resolve_alerts(session, ids, resolution, self.now)
        inserted = await store.insert_alerts(session, tenant_id, self._new)
        if len(inserted) < len(self._new):  # only if someone wrote alerts without the student lock
            stored = {r.id for r in inserted}
            for row in self._new:
                if str(row["id"]) not in stored:
                    self._open[row["student_id"]].pop((row["rule"], row["key"]), None)
        if not inserted:
            return
        teachers = await store.teachers_of_students(session, sorted({r.student_id for r in inserted}))
        order = {str(row["id"]): n for n, row in enumerate(self._new)}
        for alert in sorted(inserted, key=lambda r: order[r.id]):
            event = convert.struggle_detected_event(alert, teachers.get(alert.student_id, []))
            await outbox.stage(session, "struggle.detected", event, tenant_id=tenant_id)
