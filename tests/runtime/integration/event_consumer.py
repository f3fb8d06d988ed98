"""A consumer process for the event tests, built on the runtime's ConsumerRunner exactly as a context
would: it applies identity.user.created events into public.applied_events. With SLOW_EMAIL set, the
handler (which also stores the tenant its transaction is scoped to, for the tenancy test) for that
user sleeps after writing (inside the transaction), so the test can kill it mid-message;
with REJECT_EMAIL set, the handler raises a domain error for that user after writing; with IGNORE_PREFIX
set, users whose email starts with it are not this consumer's business (ConsumerSpec.wants); LINGER
sets ConsumerSpec.linger; FILTER another subject of the IDENTITY stream (events only this consumer
reads). Each applied row records its transaction's id."""

import asyncio
import logging
import os
import sys

import nats
from sqlalchemy import text

from services.runtime.db import Database
from services.runtime.errors import InvalidArgument
from services.runtime.events.consumer import ConsumerRunner, ConsumerSpec

log = logging.getLogger("event_consumer")


async def handle(event, session):
    email = event.message.user.email
    await session.execute(
        text(
            "INSERT INTO public.applied_events (consumer, event_id, email, event_tenant, scoped_to, tx) "
            "VALUES (:c, :e, :m, :t, current_setting('app.tenant_id', true), pg_current_xact_id()::text)"
        ),
        {"c": os.environ["CONSUMER"], "e": event.id, "m": email, "t": event.tenant_id or ""},
    )
    sys.stdout.write(f"handling {event.id} {email}\n")
    sys.stdout.flush()
    if email == os.environ.get("SLOW_EMAIL"):
        await asyncio.sleep(3600)
    if email == os.environ.get("REJECT_EMAIL"):
        raise InvalidArgument(f"{email} is not welcome here")  # deterministic: dead letter, no retry


async def main():
    logging.basicConfig(level=logging.WARNING)
    db = Database(os.environ["DATABASE_URL"], pool_size=2)
    nc = await nats.connect(os.environ["NATS_URL"])
    spec = ConsumerSpec(
        name=os.environ["CONSUMER"],
        stream="IDENTITY",
        filter_subject=os.environ.get("FILTER", "identity.user.created"),
        handler=handle,
        ack_wait_seconds=float(os.environ.get("ACK_WAIT", "2")),
        max_deliver=3,
        linger=float(os.environ.get("LINGER", "0")),
        wants=(lambda e: not e.message.user.email.startswith(ignore))
        if (ignore := os.environ.get("IGNORE_PREFIX"))
        else None,
    )
    runner = ConsumerRunner(spec, schema="identity", db=db, js=nc.jetstream())
    await runner.ensure()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    await runner.run()


if __name__ == "__main__":
    asyncio.run(main())
