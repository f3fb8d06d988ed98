"""JetStream streams ensured at start-up: created when missing, updated when their config changed."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

from services.runtime.contexts import StreamSpec

log = logging.getLogger(__name__)


async def ensure_streams(js: JetStreamContext, specs: Iterable[StreamSpec]) -> None:
    for spec in specs:
        config = StreamConfig(
            name=spec.name,
            subjects=list(spec.subjects),
            max_age=float(spec.max_age_seconds),
            duplicate_window=float(spec.duplicate_window_seconds),
            num_replicas=spec.replicas,
            storage=StorageType.FILE,
        )
        try:
            await js.stream_info(spec.name)
        except NotFoundError:
            await js.add_stream(config)
            log.info("stream created", extra={"stream": spec.name, "subjects": spec.subjects})
        else:
            await js.update_stream(config)
