"""Authentication and authorization: verifying access tokens and the per-RPC rules declared in the
protos with the `(learnflow.auth.v1.rule)` method option."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import grpc
import jwt
from google.protobuf import descriptor_pool
from learnflow.auth.v1 import auth_pb2
from learnflow.identity.v1 import identity_service_pb2

from services.runtime.errors import PermissionDenied, Unauthenticated
from services.runtime.request_context import Principal

log = logging.getLogger(__name__)

# "ROLE_TEACHER" -> "teacher": the spelling used in tokens, logs and docs.
ROLE_NAMES: dict[int, str] = {
    v.number: v.name.removeprefix("ROLE_").lower()
    for v in auth_pb2.Role.DESCRIPTOR.values
    if v.number != auth_pb2.ROLE_UNSPECIFIED
}
ROLE_BY_NAME = {name: number for number, name in ROLE_NAMES.items()}

ALWAYS_PUBLIC_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


@dataclass(frozen=True)
class Rule:
    public: bool
    roles: frozenset[str]


def rules_for(service_names: list[str]) -> dict[str, Rule]:
    """Maps '/pkg.Service/Method' to its declared rule. A method without a rule is a start-up error."""
    pool = descriptor_pool.Default()
    rules: dict[str, Rule] = {}
    missing: list[str] = []
    for service_name in service_names:
        service = pool.FindServiceByName(service_name)
        for method in service.methods:
            opts = method.GetOptions()
            path = f"/{service.full_name}/{method.name}"
            if not opts.HasExtension(auth_pb2.rule):
                missing.append(path)
                continue
            rule = opts.Extensions[auth_pb2.rule]
            rules[path] = Rule(rule.public, frozenset(ROLE_NAMES[r] for r in rule.roles))
    if missing:
        raise RuntimeError(
            "RPCs without a (learnflow.auth.v1.rule) option; declare who may call them: " + ", ".join(missing)
        )
    return rules


def authorize(rule: Rule, principal: Principal | None) -> None:
    if rule.public:
        return
    if principal is None:
        raise Unauthenticated("a valid access token is required", reason="TOKEN_MISSING")
    if rule.roles and not principal.roles.intersection(rule.roles):
        raise PermissionDenied(
            "this call needs one of the roles: " + ", ".join(sorted(rule.roles)),
            reason="ROLE_REQUIRED",
            metadata={"required_roles": ",".join(sorted(rule.roles))},
        )


class TokenVerifier:
    """Verifies ES256 access tokens against identity's JWKS, fetched over gRPC and cached.

    Unknown key ids trigger a refetch (at most every `min_refetch` seconds), so a rotation is picked up
    without a restart. Verified tokens are cached until they expire, so the hot path pays for the
    signature check once per token, not once per call.
    """

    def __init__(
        self,
        identity_addr: str,
        *,
        issuer: str,
        audience: str,
        ttl: float = 300.0,
        min_refetch: float = 2.0,
        cache_size: int = 20_000,
    ):
        self._addr = identity_addr
        self._issuer = issuer
        self._audience = audience
        self._ttl = ttl
        self._min_refetch = min_refetch
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()
        self._channel: grpc.aio.Channel | None = None
        self._cache: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        self._cache_size = cache_size

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()

    async def _fetch(self) -> None:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self._addr)
        call = self._channel.unary_unary(
            "/learnflow.identity.v1.IdentityService/GetJwks",
            request_serializer=identity_service_pb2.GetJwksRequest.SerializeToString,
            response_deserializer=identity_service_pb2.GetJwksResponse.FromString,
        )
        response = await call(identity_service_pb2.GetJwksRequest(), timeout=5)
        keys = {}
        for k in response.keys:
            keys[k.kid] = jwt.PyJWK(
                {"kty": k.kty, "crv": k.crv, "x": k.x, "y": k.y, "kid": k.kid}, "ES256"
            ).key
        self._keys = keys
        self._fetched_at = time.monotonic()

    async def _key(self, kid: str) -> Any:
        now = time.monotonic()
        stale = now - self._fetched_at > self._ttl
        if kid not in self._keys or stale:
            async with self._lock:
                if (
                    kid not in self._keys and time.monotonic() - self._fetched_at > self._min_refetch
                ) or stale:
                    try:
                        await self._fetch()
                    except grpc.aio.AioRpcError as exc:
                        log.warning("could not fetch JWKS from %s: %s", self._addr, exc.details())
                        if not self._keys:
                            raise Unauthenticated(
                                "token keys are not available yet", reason="JWKS_UNAVAILABLE"
                            ) from exc
        key = self._keys.get(kid)
        if key is None:
            raise Unauthenticated("the token was signed by an unknown key", reason="TOKEN_INVALID")
        return key

    def cached(self, token: str) -> Principal | None:
        """The principal of a token verified before and not yet expired, else None (then `verify`)."""
        cached = self._cache.get(token)
        if cached is not None and cached[0] > time.time():
            return cached[1]
        return None

    async def verify(self, token: str) -> Principal:
        cached = self._cache.get(token)
        now = time.time()
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthenticated("the token is malformed", reason="TOKEN_INVALID") from exc
        if header.get("alg") != "ES256":
            raise Unauthenticated("the token must be signed with ES256", reason="TOKEN_INVALID")
        key = await self._key(str(header.get("kid", "")))
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["ES256"],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "sub", "tid"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("the token has expired", reason="TOKEN_EXPIRED") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"the token is not valid: {exc}", reason="TOKEN_INVALID") from exc
        if claims.get("typ") != "access":
            raise Unauthenticated("an access token is required", reason="TOKEN_INVALID")
        principal = Principal(
            subject=str(claims["sub"]),
            tenant_id=str(claims["tid"]),
            roles=frozenset(str(r) for r in claims.get("roles", [])),
            email=str(claims.get("email", "")),
            token=token,
        )
        self._cache[token] = (float(claims["exp"]), principal)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return principal
