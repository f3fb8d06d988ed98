"""The server interceptor: correlation id, authentication, authorization, tenant scoping, error
mapping, metrics and the boundary log — once, for every context.

Handlers are wrapped once per method and cached, so the per-call cost is a dict lookup plus the work.
The unary path is kept lean on purpose (it is most of a short RPC's own Python, docs/performance.md):
one pass over the metadata, the token cache asked without a coroutine, the request context set and
reset directly rather than through a context manager, pre-bound metric children.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from services.runtime import metrics, request_context, validation
from services.runtime.authz import ALWAYS_PUBLIC_PREFIXES, Rule, TokenVerifier, authorize
from services.runtime.errors import DomainError, Unauthenticated
from services.runtime.logs import _trace_id
from services.runtime.request_context import Principal, RequestContext
from services.runtime.status import code_for, internal_status, to_status

log = logging.getLogger("learnflow.rpc")


class MeshInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, rules: dict[str, Rule], verifier: TokenVerifier):
        self._rules = rules
        self._verifier = verifier
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = details.method
        wrapped = self._wrapped.get(method)
        if wrapped is not None:
            return wrapped
        handler = await continuation(details)
        if handler is None:
            return handler
        rule = self._rules.get(method)
        if rule is None:
            if method.startswith(ALWAYS_PUBLIC_PREFIXES):
                return handler  # health and reflection: public, unwrapped
            rule = Rule(False, frozenset())  # not declared by any hosted context: authenticated only
        wrapped = self._wrap(method, rule, handler)
        self._wrapped[method] = wrapped
        return wrapped

    @staticmethod
    def _metadata(context: grpc.aio.ServicerContext) -> tuple[str, str]:
        """(authorization header, correlation id): the only two things read from the metadata, picked
        out in one pass instead of building a dict of all of it on every call."""
        auth = cid = rid = ""
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                auth = value
            elif key == "x-correlation-id":
                cid = value
            elif key == "x-request-id":
                rid = value
        return auth, cid or rid or request_context.new_correlation_id()

    async def _enter(self, method: str, rule: Rule, header: str, cid: str) -> RequestContext:
        principal: Principal | None = None
        if not rule.public and header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token:
                raise Unauthenticated(
                    "the authorization header must be 'Bearer <token>'", reason="TOKEN_INVALID"
                )
            token = token.strip()
            # A token seen before is answered from the cache without a coroutine of its own.
            principal = self._verifier.cached(token) or await self._verifier.verify(token)
        authorize(rule, principal)
        return RequestContext(cid, principal, principal.tenant_id if principal else None, method)

    async def _fail(self, method: str, exc: Exception, context: grpc.aio.ServicerContext, cid: str) -> str:
        if isinstance(exc, DomainError):
            code = code_for(exc)
            level = logging.ERROR if code == grpc.StatusCode.UNAVAILABLE else logging.INFO
            log.log(
                level,
                "rpc failed",
                extra={"method": method, "code": code.name, "reason": exc.reason, "error": exc.message},
            )
            await context.abort_with_status(to_status(exc, correlation_id=cid))
        log.error("rpc crashed", exc_info=exc, extra={"method": method})
        await context.abort_with_status(internal_status(cid, _trace_id()))
        return "INTERNAL"  # pragma: no cover (abort raises)

    def _wrap(self, method: str, rule: Rule, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        enter, fail, metadata = self._enter, self._fail, self._metadata
        check = validation.check  # the contract's rules (protovalidate), after authentication
        deserializer = validation.safe_deserializer(handler.request_deserializer, method.rsplit("/", 1)[-1])
        enter_context, leave_context, perf_counter = (
            request_context.enter,
            request_context.leave,
            time.perf_counter,
        )
        ok_total, seconds = metrics.RPC_TOTAL.labels(method, "OK"), metrics.RPC_SECONDS.labels(method)

        if handler.unary_unary is not None:
            behavior = handler.unary_unary

            async def unary_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                start = perf_counter()
                code = "OK"
                auth, cid = metadata(context)
                try:
                    ctx = await enter(method, rule, auth, cid)
                    check(request)
                    bound = enter_context(ctx)
                    try:
                        return await behavior(request, context)
                    finally:
                        leave_context(bound)
                except grpc.aio.AbortError:
                    code = "ABORTED_BY_HANDLER"
                    raise
                except Exception as exc:
                    code = code_for(exc).name if isinstance(exc, DomainError) else "INTERNAL"
                    await fail(method, exc, context, cid)
                finally:
                    (ok_total if code == "OK" else metrics.RPC_TOTAL.labels(method, code)).inc()
                    seconds.observe(perf_counter() - start)

            return grpc.unary_unary_rpc_method_handler(unary_unary, deserializer, handler.response_serializer)

        if handler.unary_stream is not None:
            stream_behavior = handler.unary_stream

            async def unary_stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                code = "OK"
                auth, cid = metadata(context)
                try:
                    ctx = await enter(method, rule, auth, cid)
                    check(request)
                    with request_context.bind(ctx):
                        async for item in stream_behavior(request, context):
                            yield item
                except grpc.aio.AbortError:
                    raise
                except Exception as exc:
                    code = code_for(exc).name if isinstance(exc, DomainError) else "INTERNAL"
                    await fail(method, exc, context, cid)
                finally:
                    metrics.RPC_TOTAL.labels(method, code).inc()

            return grpc.unary_stream_rpc_method_handler(
                unary_stream, deserializer, handler.response_serializer
            )
        # Client-streaming and bidi RPCs are not used by any context yet; refuse rather than skip auth.
        raise RuntimeError(f"{method}: streaming requests are not supported by the interceptor yet")
