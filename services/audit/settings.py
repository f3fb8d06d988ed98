"""audit's settings, declared (services/runtime/settings.py): read at start with every other
context's, listed by `learnflow settings` and in docs/settings.md (`make gen`)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.runtime.settings import EnvReader, Setting, custom, integer, number

SEED_BYTES = 32


def _signing_seed(r: EnvReader, setting: Setting, values: Mapping[str, Any]) -> bytes:
    """The Ed25519 private key's 32-byte seed, base64 (url-safe or standard, padding optional)."""
    raw = r.env.get(setting.env, "").strip()
    if not raw:
        return b""
    try:
        seed = base64.urlsafe_b64decode(raw.replace("+", "-").replace("/", "_") + "=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        seed = b""
    if len(seed) != SEED_BYTES:
        r.problems.append(
            f"{setting.env}: must be {SEED_BYTES} random bytes in base64 (openssl rand -base64 32)"
        )
        return b""
    return seed


def _key_ids(r: EnvReader, setting: Setting, values: Mapping[str, Any]) -> frozenset[str]:
    raw = r.env.get(setting.env, "")
    ids = frozenset(i.strip().lower() for i in raw.split(",") if i.strip())
    bad = sorted(i for i in ids if len(i) != 64 or any(c not in "0123456789abcdef" for c in i))
    if bad:
        listed = ", ".join(bad)
        r.problems.append(f"{setting.env}: {listed} are not key ids (64 hex digits, as VerifyChain shows)")
    return ids


@dataclass(frozen=True)
class AuditConfig:
    default_page_size: int = integer(
        "AUDIT_DEFAULT_PAGE_SIZE",
        50,
        "records or checkpoints a list returns when it asks for no page size",
        min=1,
        max=200,
    )
    checkpoint_key: bytes = custom(
        "AUDIT_CHECKPOINT_KEY",
        b"",
        "Ed25519 seed (base64, 32 bytes) that signs the chain checkpoints; unset: a key made at start, "
        "so checkpoints signed before a restart verify only against the public key they carry",
        _signing_seed,
        default_text="(a new key per process)",
        secret=True,
    )
    # Rotation: the ids of the keys that signed older checkpoints, still trusted beside the current one.
    trusted_key_ids: frozenset[str] = custom(
        "AUDIT_TRUSTED_KEY_IDS",
        frozenset(),
        "ids of earlier checkpoint keys still trusted (comma separated); with AUDIT_CHECKPOINT_KEY set, a "
        "checkpoint signed by any other key is reported as forged by VerifyChain",
        _key_ids,
        default_text="",
    )
    checkpoint_interval: int = integer(
        "AUDIT_CHECKPOINT_INTERVAL_SECONDS",
        300,
        "how often each tenant's chain head is signed (when it moved)",
        min=1,
        max=86400,
    )
    append_batch: int = integer(
        "AUDIT_APPEND_BATCH",
        500,
        "audit events the consumer fetches and appends per transaction",
        min=1,
        max=1000,
    )
    append_linger: float = number(
        "AUDIT_APPEND_LINGER_SECONDS",
        0.0,
        "how long a batch of audit events that is not full waits for more before it is appended "
        "(under load, one transaction for the events of that long instead of one per event or two); "
        "0, off: 0.05 showed no gain in the interventions pipeline's latency (docs/performance.md)",
        min=0,
        max=5,
    )
