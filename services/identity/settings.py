"""identity's settings, declared (services/runtime/settings.py): read at start with every other
context's, listed by `learnflow settings`. The token issuer and audience are the runtime's (every
context verifies tokens with them)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.runtime.settings import EnvReader, Setting, custom, integer


def _workload_secrets(
    r: EnvReader, setting: Setting, values: Mapping[str, Any]
) -> dict[str, tuple[bytes, ...]]:
    """`tutoring=<secret>,other=<secret>`: each workload's secrets, kept only as SHA-256. A workload
    may appear twice while its secret is rotated (old and new both valid)."""
    secrets: dict[str, tuple[bytes, ...]] = {}
    for item in filter(None, (p.strip() for p in r.string(setting.env, "").split(","))):
        workload, sep, secret = item.partition("=")
        if not sep or not workload.strip() or len(secret.strip()) < 16:
            r.problems.append(f"{setting.env}: each entry is <workload>=<secret of at least 16 characters>")
            continue
        digest = hashlib.sha256(secret.strip().encode()).digest()
        secrets[workload.strip()] = (*secrets.get(workload.strip(), ()), digest)
    return secrets


@dataclass(frozen=True)
class IdentityConfig:
    access_ttl: int = integer(
        "IDENTITY_ACCESS_TOKEN_TTL_SECONDS", 900, "lifetime of an access token", min=60, max=86400
    )
    refresh_ttl: int = integer(
        "IDENTITY_REFRESH_TOKEN_TTL_SECONDS",
        30 * 86400,
        "lifetime of a refresh token",
        min=300,
        max=365 * 86400,
    )
    key_publish_delay: int = integer(
        "IDENTITY_KEY_PUBLISH_DELAY_SECONDS",
        120,
        "a new signing key is published this long before it signs, so every verifier has it",
        min=0,
        max=86400,
    )
    workload_secrets: Mapping[str, tuple[bytes, ...]] = custom(
        "IDENTITY_WORKLOAD_SECRETS",
        {},
        "the workloads that may get tokens: `tutoring=<secret>,...` (a workload twice while rotating)",
        _workload_secrets,
        default_text="(none)",
        secret=True,
    )
    workload_token_ttl: int = integer(
        "IDENTITY_WORKLOAD_TOKEN_TTL_SECONDS", 300, "lifetime of a workload token", min=60, max=3600
    )
    # argon2id's cost for new password hashes (a stored hash carries its own, so changing these never
    # locks anyone out). The defaults are RFC 9106's second recommendation (argon2-cffi's): about
    # 0.14 s of CPU per hash and per login here. The test suite lowers them (tests/conftest.py): it
    # creates and logs in users by the thousand.
    hash_time_cost: int = integer(
        "IDENTITY_PASSWORD_HASH_TIME_COST", 3, "argon2id passes over memory per password hash", min=1, max=20
    )
    hash_memory_kib: int = integer(
        "IDENTITY_PASSWORD_HASH_MEMORY_KIB",
        65536,
        "argon2id memory per password hash, in KiB",
        min=8192,
        max=1048576,
    )
    hash_parallelism: int = integer(
        "IDENTITY_PASSWORD_HASH_PARALLELISM", 4, "argon2id lanes per password hash", min=1, max=16
    )
    hash_workers: int = integer(
        "IDENTITY_PASSWORD_HASH_WORKERS",
        2,
        "password hashes computed at once (threads of their own; each holds the hash's memory)",
        min=1,
        max=64,
    )
    hash_queue: int = integer(
        "IDENTITY_PASSWORD_HASH_QUEUE",
        64,
        "sign-ins waiting for a hashing thread; beyond, RESOURCE_EXHAUSTED (429, retry in a second)",
        min=0,
        max=10000,
    )
