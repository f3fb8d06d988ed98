"""sandbox's composition root: the isolation engine, the pool, rate limits, the servicer."""

from __future__ import annotations

import logging

from learnflow.sandbox.v1 import sandbox_service_pb2, sandbox_service_pb2_grpc

from services.runtime.contexts import ContextSpec, Dependencies, Hosted, Periodic, StreamSpec
from services.runtime.directory import UserDirectory
from services.runtime.errors import Unavailable
from services.runtime.ratelimit import RateLimiter, SharedRateLimiter
from services.sandbox.api import SandboxApi
from services.sandbox.deploy import DEPLOY
from services.sandbox.engine import BubblewrapSandbox, Limits, RunResult, Sandbox, UnsafeLocalSandbox
from services.sandbox.pool import ExecutionPool
from services.sandbox.service import SandboxService
from services.sandbox.settings import SandboxConfig

log = logging.getLogger(__name__)
SERVICE = sandbox_service_pb2.DESCRIPTOR.services_by_name["SandboxService"].full_name


class RefusingSandbox:
    """Stands where the engine would when isolation is unavailable: untrusted code is never run
    without it, unless SANDBOX_UNSAFE_NO_ISOLATION=true says so explicitly."""

    def __init__(self, reason: str):
        self.reason = reason

    async def run(self, code: str, stdin: str = "", limits: Limits = Limits()) -> RunResult:
        raise Unavailable(
            f"the sandbox cannot isolate code here: {self.reason}", reason="ISOLATION_UNAVAILABLE"
        )


async def build(deps: Dependencies) -> Hosted:
    config = deps.settings_for(SandboxConfig)
    python, workers, queue = config.python, config.workers, config.queue
    per_user, per_tenant, unsafe = config.per_user, config.per_tenant, config.unsafe_no_isolation

    sandbox: Sandbox
    isolated, reason = BubblewrapSandbox.for_this_host(python)
    if isolated is not None:
        sandbox = isolated
        if isolated.container_mode:
            log.warning(
                "sandbox in container mode: no /proc inside, nested user namespaces not blocked by bwrap"
            )
    elif unsafe:
        log.warning(
            "SANDBOX_UNSAFE_NO_ISOLATION: running untrusted code WITHOUT isolation", extra={"reason": reason}
        )
        sandbox, reason = UnsafeLocalSandbox(python=python), None
    else:
        sandbox = RefusingSandbox(
            reason or "unknown"
        )  # NOT_SERVING; a call that arrives anyway gets UNAVAILABLE

    async def isolation_ready() -> str | None:
        # Only missing isolation makes the sandbox NOT_SERVING. Missing whole-run limits (no cgroup per
        # run, `isolated.whole_run_limits`) does not: the runs are still isolated and bounded per
        # process, and a reason here would take every replica out of rotation. That degraded mode is
        # logged once at start-up and exported as learnflow_sandbox_whole_run_limits 0 (docs/sandbox.md).
        return None if reason is None else f"isolation unavailable: {reason}"

    # The run limits hold for all replicas together: token buckets in sandbox.rate_limits.
    limits = SharedRateLimiter(deps.db, "sandbox")
    service = SandboxService(
        deps.db,
        deps.outbox,
        ExecutionPool(sandbox, workers=workers, queue=queue),
        per_user=RateLimiter(limits, per_user, max(10, int(per_user // 6)), "user", "sandbox", "runs"),
        per_tenant=RateLimiter(
            limits, per_tenant, max(100, int(per_tenant // 6)), "tenant", "sandbox", "runs"
        ),
        # on_behalf_of must name a user of the tenant: identity, asked as this workload.
        # A run on behalf of a student is frequent (tutoring reviews every submission): a minute's cache.
        users=(
            UserDirectory(deps.workload, deps.settings.identity_addr, cache_seconds=60.0)
            if deps.workload is not None
            else None
        ),
    )

    async def forget_idle_buckets() -> None:
        await limits.purge(idle_seconds=3600)  # full again long before: a missing bucket is a full one

    return Hosted(
        servicers=[(sandbox_service_pb2_grpc.add_SandboxServiceServicer_to_server, SandboxApi(service))],
        health_checks=[isolation_ready],
        periodic=[Periodic("sandbox-rate-limit-purge", 600, forget_idle_buckets)],
    )


CONTEXT = ContextSpec(
    name="sandbox",
    services=(SERVICE,),
    build=build,
    streams=(StreamSpec("SANDBOX", ("sandbox.>",)),),
    settings=SandboxConfig,
    deploy=DEPLOY,
)
