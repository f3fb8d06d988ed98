"""The mentors' DMs (seed steps 3-4): a durable consumer of activity.* sends each stored event to the
student's mentors through notify and keeps the notification log per event and mentor.

`prepare` (outside any transaction, concurrently) links each mentor's LMS email to a LearnFlow user and
calls notify's SendMessage on the Zulip channel with the seed's Markdown (domain.format_message) and
the idempotency key `activity:<event id>:<mentor id>`; the handler then writes the log rows and one
audit record per DM in the consumer's transaction. A consumer killed in between prepares again after
redelivery and notify answers with the first delivery: nothing is sent twice. A mentor without a
Zulip account gets notify's fallback channel (NOTIFY_FALLBACK_CHANNEL; notify notes it on the
delivery); a mentor without a LearnFlow account is logged unsent and listed as unmatched; notify
unreachable → the event is retried (nak with backoff, for about eight minutes before it is
dead-lettered); notify refusing (an unknown template) → logged unsent with its answer."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from services.activity import convert, domain, store
from services.activity.clients import NotifyClient
from services.activity.domain import ActivityEvent, Notification
from services.activity.monitor import UserLinker
from services.runtime import audit
from services.runtime.errors import FailedPrecondition
from services.runtime.events.consumer import ConsumerSpec
from services.runtime.events.envelope import Event, require_tenant
from services.runtime.events.outbox import Outbox

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MentorDms:
    event: ActivityEvent
    rows: tuple[Notification, ...]


class MentorNotifier:
    def __init__(
        self,
        outbox: Outbox,
        linker: UserLinker,
        notify: NotifyClient,
        *,
        channel: str = "zulip",
        template: str = "lms-activity",
    ):
        self.outbox = outbox
        self.linker = linker
        self.notify = notify
        self.channel = channel
        self.template = template

    async def prepare(self, event: Event) -> MentorDms:
        ev = convert.event_from_proto(event.message.event, require_tenant(event))
        emails = {m.email.lower() for m in ev.mentors if m.email}
        users = await self.linker.link(emails) if emails else {}
        body = domain.format_message(ev)
        rows = []
        for mentor in ev.mentors:
            user = users.get(mentor.email.lower())
            if user is None:
                rows.append(
                    Notification(
                        ev.event_id, mentor.id, self.channel, False, error=f"no LearnFlow user {mentor.email}"
                    )
                )
                continue
            try:
                sent = await self.notify.send(
                    ev.tenant_id,
                    channel=self.channel,
                    recipient_id=user,
                    template=self.template,
                    body=body,
                    idempotency_key=f"activity:{ev.event_id}:{mentor.id}",
                )
            except FailedPrecondition as exc:  # notify's answer; Unavailable propagates: retried
                rows.append(Notification(ev.event_id, mentor.id, self.channel, False, error=str(exc)))
                continue
            rows.append(Notification(ev.event_id, mentor.id, sent.channel, True, message_id=sent.delivery_id))
        return MentorDms(ev, tuple(rows))

    async def handle(self, event: Event, session: AsyncConnection) -> None:
        dms: MentorDms = event.prepared if event.prepared is not None else await self.prepare(event)
        await store.log_notifications(session, dms.event.tenant_id, list(dms.rows))
        for row in dms.rows:
            if row.sent:
                await audit.record(
                    self.outbox,
                    session,
                    "mentor.notified",
                    f"activity/events/{row.event_id}",
                    after={"mentor_id": row.mentor_id, "channel": row.channel, "delivery_id": row.message_id},
                )
            else:
                log.warning(
                    "mentor not notified",
                    extra={"event": row.event_id, "mentor": row.mentor_id, "error": row.error},
                )

    def consumer(self) -> ConsumerSpec:
        # notify or identity away is an outage of another context, which the consumer's database/NATS
        # hold does not cover: its default budget (5 deliveries, backoff from 0.5 s) dead-letters a
        # healthy event after ~8 s of it. Twelve deliveries with backoff up to two minutes wait out
        # about eight minutes (a rolling restart, a slow start) before the event is dead-lettered
        # (and then redrivable: ops RedriveDeadLetter).
        return ConsumerSpec(
            "activity-mentor-dms",
            "ACTIVITY",
            "activity.>",
            self.handle,
            prepare=self.prepare,
            in_flight=4,
            max_deliver=12,
            backoff_max_seconds=120.0,
        )
