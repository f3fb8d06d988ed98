"""Credentials and tokens: argon2id password hashes, ES256 signing keys, access and refresh tokens."""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import secrets
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from services.runtime.errors import ResourceExhausted

T = TypeVar("T")

# argon2id (RFC 9106), the library's defaults (time_cost 3, 64 MiB, parallelism 4) unless identity's
# settings say otherwise (configure_hashing). Verifying reads the parameters from the stored hash.
_hasher = PasswordHasher()


class HashingGate:
    """Password hashing off the event loop, on threads of its own: `workers` at once, at most `queue`
    waiting; beyond that, RESOURCE_EXHAUSTED (429, retry in a second) at once. Each argon2id hash holds
    64 MiB and a fraction of a second of CPU, and the login and service-token endpoints are public: on
    asyncio's default executor (sized by the host's CPUs, not the pod's) a flood of guesses ran twenty
    at once, 1.25 GiB against a 512 MiB pod, and queued without end."""

    def __init__(self, workers: int = 2, queue: int = 64):
        self.workers = workers
        self.queue = queue
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")
        self._in = 0  # running or waiting

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._in >= self.workers + self.queue:
            raise ResourceExhausted(
                "too many sign-ins at once; try again in a second",
                reason="SIGN_INS_BUSY",
                metadata={"retry_after_seconds": "1"},
            )
        self._in += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(fn, *args))
        finally:
            self._in -= 1


gate = HashingGate()


def configure_hashing(
    time_cost: int, memory_kib: int, parallelism: int, workers: int = 2, queue: int = 64
) -> None:
    """The cost of new password hashes and how many run at once (identity's IDENTITY_PASSWORD_HASH_*
    settings)."""
    global _hasher, gate
    if (workers, queue) != (gate.workers, gate.queue):
        gate = HashingGate(workers, queue)
    if (time_cost, memory_kib, parallelism) != (
        _hasher.time_cost,
        _hasher.memory_cost,
        _hasher.parallelism,
    ):
        _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
        _dummy_hash.cache_clear()  # the unknown-user check must cost what a real one does


@functools.cache
def _dummy_hash() -> str:
    """A real hash to verify against when the user does not exist, so timing does not reveal that.
    Made on first use, not at import: an argon2id hash costs 64 MiB and 0.1-0.6 s of CPU here, which every
    process importing this module (CLI, tests, contexts that never log anyone in) paid before."""
    return _hasher.hash("learnflow-no-such-user")


def hash_secret(secret: str) -> str:
    return _hasher.hash(secret)


def verify_secret(stored_hash: str | None, secret: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _dummy_hash(), secret) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_client_secret() -> str:
    return secrets.token_urlsafe(32)


def refresh_token_for(tenant_id: str) -> tuple[str, bytes]:
    """A refresh token names its tenant (so the lookup can run under row-level security) and carries
    256 random bits; only its SHA-256 is stored."""
    token = f"{tenant_id}.{secrets.token_urlsafe(32)}"
    return token, digest(token)


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def tenant_of_refresh_token(token: str) -> str | None:
    tenant, _, rest = token.partition(".")
    try:
        uuid.UUID(tenant)
    except ValueError:
        return None
    return tenant if rest else None


def _b64(n: int) -> str:
    return base64.urlsafe_b64encode(n.to_bytes(32, "big")).decode().rstrip("=")


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_pem: str
    not_before: datetime
    retire_at: datetime | None = None

    @staticmethod
    def generate(not_before: datetime) -> SigningKey:
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return SigningKey(kid=uuid.uuid4().hex[:16], private_pem=pem, not_before=not_before)

    def public_jwk(self) -> dict[str, str]:
        private = serialization.load_pem_private_key(self.private_pem.encode(), password=None)
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        numbers = private.public_key().public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": _b64(numbers.x),
            "y": _b64(numbers.y),
            "kid": self.kid,
            "use": "sig",
            "alg": "ES256",
        }


@dataclass(frozen=True)
class TokenSettings:
    issuer: str
    audience: str
    access_ttl: int
    refresh_ttl: int


def issue_access_token(
    key: SigningKey,
    settings: TokenSettings,
    *,
    subject: str,
    tenant_id: str,
    roles: tuple[str, ...],
    email: str,
) -> str:
    now = int(time.time())
    claims = {
        "iss": settings.issuer,
        "aud": settings.audience,
        "sub": subject,
        "tid": tenant_id,
        "roles": list(roles),
        "email": email,
        "typ": "access",
        "iat": now,
        "nbf": now - 5,
        "exp": now + settings.access_ttl,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key.private_pem, algorithm="ES256", headers={"kid": key.kid})
