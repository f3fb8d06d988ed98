"""sandbox's settings, declared (services/runtime/settings.py): read at start with every other
context's, listed by `learnflow settings`."""

from __future__ import annotations

import os
from dataclasses import dataclass

from services.runtime.settings import flag, integer, number, text

# The interpreter learners' code runs on: Debian's python3, which the image installs next to the service's
# own (/usr/local/bin/python3 of the python:* base). The engine binds /usr read-only into each sandbox but
# hides /usr/local, and refuses an interpreter there. The base image is pinned to bookworm so that Debian's
# python3 is 3.11, the service's minor version (services/sandbox/diagnosis.py compiles with the service's).
SANDBOX_PYTHON = "/usr/bin/python3"


def _cpus() -> int:
    return os.cpu_count() or 2


@dataclass(frozen=True)
class SandboxConfig:
    python: str = text(
        "SANDBOX_PYTHON", SANDBOX_PYTHON, "the interpreter learners' code runs on (not under /usr/local)"
    )
    workers: int = integer(
        "SANDBOX_WORKERS", _cpus, "runs at the same time (CPU-bound: one per CPU)", min=1, max=256,
        default_text="the number of CPUs (in Kubernetes: the CPU limit)",
    )  # fmt: skip
    queue: int = integer(
        "SANDBOX_QUEUE", 100, "runs waiting for a worker before new ones are refused", min=0, max=10_000
    )
    per_user: float = number(
        "SANDBOX_RUNS_PER_USER_PER_MINUTE", 120, "rate limit per user", min=1, max=100_000
    )
    per_tenant: float = number(
        "SANDBOX_RUNS_PER_TENANT_PER_MINUTE", 6000, "rate limit per tenant", min=1, max=10_000_000
    )
    unsafe_no_isolation: bool = flag(
        "SANDBOX_UNSAFE_NO_ISOLATION",
        False,
        "local development only: run code WITHOUT isolation where bubblewrap cannot; never in a manifest",
        local_only=True,
    )
