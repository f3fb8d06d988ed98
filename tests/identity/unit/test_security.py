"""Password hashing: no argon2 work at import time, and an unknown user is still checked against a
real hash (so the time a login takes does not tell whether the account exists)."""

from __future__ import annotations

import subprocess
import sys

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
