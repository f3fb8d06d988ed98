"""identity's composition root: service, servicer, streams; its settings are in settings.py."""

from __future__ import annotations

from learnflow.identity.v1 import identity_service_pb2, identity_service_pb2_grpc

from services.identity.api import IdentityApi
from services.identity.security import TokenSettings, configure_hashing
from services.identity.seed import seed_demo
from services.identity.service import IdentityService, IdentitySettings
from services.identity.settings import IdentityConfig
from services.runtime.contexts import ContextSpec, Dependencies, Hosted, SecretEnv, StreamSpec

SERVICE = identity_service_pb2.DESCRIPTOR.services_by_name["IdentityService"].full_name


def identity_settings(deps: Dependencies) -> IdentitySettings:
    config = deps.settings_for(IdentityConfig)
    configure_hashing(
        config.hash_time_cost,
        config.hash_memory_kib,
        config.hash_parallelism,
        config.hash_workers,
        config.hash_queue,
    )
    return IdentitySettings(
        tokens=TokenSettings(
            issuer=deps.settings.jwt_issuer,
            audience=deps.settings.jwt_audience,
            access_ttl=config.access_ttl,
            refresh_ttl=config.refresh_ttl,
        ),
        key_publish_delay=config.key_publish_delay,
        workload_secrets=dict(config.workload_secrets),
        workload_token_ttl=config.workload_token_ttl,
    )


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
    settings=IdentityConfig,
    # The table of every workload's secret, next to each context's own (deploy/k8s/README.md).
    secrets=(SecretEnv("IDENTITY_WORKLOAD_SECRETS", "learnflow-workloads"),),
)
