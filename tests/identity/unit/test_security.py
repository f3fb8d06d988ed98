"""Password hashing: no argon2 work at import time, and an unknown user is still checked against a
real hash (so the time a login takes does not tell whether the account exists)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from services.identity import security


def test_importing_computes_no_hash():
    probe = (
        "import services.identity.security as s, sys; "
        "sys.exit(0 if s._dummy_hash.cache_info().currsize == 0 else 1)"
    )
    assert subprocess.run([sys.executable, "-c", probe], check=False).returncode == 0


def test_an_unknown_user_is_verified_against_a_real_hash():
    assert security.verify_secret(None, "whatever") is False
    assert security._dummy_hash.cache_info().currsize == 1  # the argon2 check really ran
    assert security._dummy_hash().startswith("$argon2id$")


def test_a_stored_hash_accepts_its_secret_only():
    stored = security.hash_secret("correct horse")
    assert security.verify_secret(stored, "correct horse") is True
    assert security.verify_secret(stored, "wrong horse") is False
    assert security.verify_secret("not-a-hash", "correct horse") is False


def test_password_hash_cost_follows_the_settings():
    """New hashes carry the configured argon2id cost (the defaults: argon2-cffi's, RFC 9106); a hash
    made at another cost still verifies, since it carries its own; the unknown-user check follows."""
    from services.identity.settings import IdentityConfig

    defaults = IdentityConfig()
    assert (defaults.hash_time_cost, defaults.hash_memory_kib, defaults.hash_parallelism) == (3, 65536, 4)
    strong = security.hash_secret("correct horse")
    try:
        security.configure_hashing(1, 8192, 1)
        cheap = security.hash_secret("correct horse")
        assert cheap.startswith("$argon2id$v=19$m=8192,t=1,p=1$")
        assert security._dummy_hash().startswith("$argon2id$v=19$m=8192,t=1,p=1$")
        assert security.verify_secret(strong, "correct horse") and security.verify_secret(
            cheap, "correct horse"
        )
        assert not security.verify_secret(cheap, "wrong horse")
    finally:
        security.configure_hashing(
            defaults.hash_time_cost, defaults.hash_memory_kib, defaults.hash_parallelism
        )
    assert security.hash_secret("x").startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert security._dummy_hash().startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_password_hashing_runs_a_bounded_number_at_once_and_refuses_beyond_its_queue():
    """A flood of sign-ins: `workers` hashes at a time, `queue` waiting, the rest refused at once
    (RESOURCE_EXHAUSTED, retry in a second) rather than piling up threads and 64 MiB hashes."""
    import asyncio
    import threading

    from services.identity.security import HashingGate
    from services.runtime.errors import ResourceExhausted

    release = threading.Event()
    running: list[int] = []
    peak = 0

    def slow(i: int) -> int:
        nonlocal peak
        running.append(i)
        peak = max(peak, len(running))
        release.wait(5)
        running.remove(i)
        return i

    async def main():
        gate = HashingGate(workers=2, queue=1)
        admitted = [asyncio.create_task(gate.run(slow, i)) for i in range(3)]
        await asyncio.sleep(0.1)
        with pytest.raises(ResourceExhausted) as refused:
            await gate.run(slow, 3)
        release.set()
        return await asyncio.gather(*admitted), refused.value

    done, refused = asyncio.run(main())
    assert done == [0, 1, 2] and peak == 2
    assert refused.reason == "SIGN_INS_BUSY" and refused.metadata["retry_after_seconds"] == "1"
