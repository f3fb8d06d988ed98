"""interventions' delivery port toward notify.

notify's delivery engine (NotifyService.SendMessage: channel, recipient, template variables, urgency,
idempotency key, delivery log) is being finished on another branch and is not in this mesh's
contract yet. Until it is, the context runs with `NotifyUnavailable`: every delivery attempt fails
with that reason, is retried as any unavailable callee is (jobs' backoff, seed FR1.3), and ends as a
decision whose delivery_status is "failed" with the reason in delivery_error — visible in
ListDecisions, audited, and counted against the SLA metric, never silently dropped.
docs/interventions.md ("Delivery") says what replaces it once notify's engine is merged.
"""

from __future__ import annotations

from services.interventions.domain import Delivery, Receipt
from services.runtime.errors import Unavailable


class NotifyUnavailable:
    """The delivery port while notify's SendMessage does not exist on this mesh."""

    async def deliver(self, delivery: Delivery) -> Receipt:
        raise Unavailable(
            "notify's SendMessage is not available on this mesh yet; the intervention could not be delivered",
            reason="NOTIFY_UNAVAILABLE",
        )
