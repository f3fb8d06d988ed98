"""identity's composition root: settings, service, servicer, streams."""

from __future__ import annotations

import hashlib

from learnflow.identity.v1 import identity_service_pb2, identity_service_pb2_grpc

from services.identity.api import IdentityApi
from services.identity.security import TokenSettings
from services.identity.seed import seed_demo
from services.identity.service import IdentityService, IdentitySettings
from services.runtime.contexts import ContextSpec, Dependencies, Hosted, StreamSpec
from services.runtime.settings import EnvReader

SERVICE = identity_service_pb2.DESCRIPTOR.services_by_name["IdentityService"].full_name


def identity_settings(deps: Dependencies) -> IdentitySettings:
    r = EnvReader(deps.settings.env)
    settings = IdentitySettings(
        tokens=TokenSettings(
            issuer=deps.settings.jwt_issuer,
            audience=deps.settings.jwt_audience,
            access_ttl=r.integer("IDENTITY_ACCESS_TOKEN_TTL_SECONDS", 900, min=60, max=86400),
            refresh_ttl=r.integer("IDENTITY_REFRESH_TOKEN_TTL_SECONDS", 30 * 86400, min=300, max=365 * 86400),
        ),
        key_publish_delay=r.integer("IDENTITY_KEY_PUBLISH_DELAY_SECONDS", 120, min=0, max=86400),
        workload_secrets=workload_secrets(r, "IDENTITY_WORKLOAD_SECRETS"),
        workload_token_ttl=r.integer("IDENTITY_WORKLOAD_TOKEN_TTL_SECONDS", 300, min=60, max=3600),
    )
    r.check()
    return settings


def workload_secrets(r: EnvReader, name: str) -> dict[str, tuple[bytes, ...]]:
    """`tutoring=<secret>,other=<secret>`: each workload's secrets, kept only as SHA-256. A workload
    may appear twice while its secret is rotated (old and new both valid)."""
    secrets: dict[str, tuple[bytes, ...]] = {}
    for item in filter(None, (p.strip() for p in r.string(name, "").split(","))):
        workload, sep, secret = item.partition("=")
        if not sep or not workload.strip() or len(secret.strip()) < 16:
            r.problems.append(f"{name}: each entry is <workload>=<secret of at least 16 characters>")
            continue
        digest = hashlib.sha256(secret.strip().encode()).digest()
        secrets[workload.strip()] = (*secrets.get(workload.strip(), ()), digest)
    return secrets


async def build(deps: Dependencies) -> Hosted:
    service = IdentityService(deps.db, deps.outbox, identity_settings(deps))
    await service.ensure_signing_key()
    hosted = Hosted(
        servicers=[(identity_service_pb2_grpc.add_IdentityServiceServicer_to_server, IdentityApi(service))]
    )
    if deps.settings.seed_demo:
        hosted.on_start.append(lambda: seed_demo(service))
    return hosted


CONTEXT = ContextSpec(
    name="identity",
    services=(SERVICE,),
    build=build,
    streams=(StreamSpec("IDENTITY", ("identity.>",)),),
)
