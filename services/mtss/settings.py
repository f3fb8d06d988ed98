"""mtss's settings, declared (services/runtime/settings.py): read at start with every other
context's, listed by `learnflow settings` and in docs/settings.md (`make gen`)."""

from __future__ import annotations

from dataclasses import dataclass

from services.runtime.settings import number, text


@dataclass(frozen=True)
class MtssConfig:
    fidelity_threshold: float = number(
        "MTSS_FIDELITY_THRESHOLD",
        0.8,
        "share of planned minutes that must be delivered before an intensify recommendation is shown",
        min=0.0,
        max=1.0,
    )
    caregiver_channel: str = text(
        "MTSS_CAREGIVER_CHANNEL",
        "email",
        "notify channel caregiver messages go out on (notify falls back to its fallback channel)",
    )
