"""The server interceptor: correlation id, authentication, authorization, tenant scoping, error
mapping, metrics and the boundary log — once, for every context.

Handlers are wrapped once per method and cached, so the per-call cost is a dict lookup plus the work.
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
    def _metadata(context: grpc.aio.ServicerContext) -> tuple[dict[str, str], str]:
        md = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
        cid = md.get("x-correlation-id") or md.get("x-request-id") or request_context.new_correlation_id()
        return md, cid

    async def _enter(self, method: str, rule: Rule, md: dict[str, str], cid: str) -> RequestContext:
        principal: Principal | None = None
        if not rule.public:
            header = md.get("authorization", "")
            if header:
                scheme, _, token = header.partition(" ")
                if scheme.lower() != "bearer" or not token:
                    raise Unauthenticated(
                        "the authorization header must be 'Bearer <token>'", reason="TOKEN_INVALID"
                    )
                principal = await self._verifier.verify(token.strip())
        authorize(rule, principal)
        return RequestContext(
            correlation_id=cid,
            principal=principal,
            tenant_id=principal.tenant_id if principal else None,
            rpc=method,
        )

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
        ok_total, seconds = metrics.RPC_TOTAL.labels(method, "OK"), metrics.RPC_SECONDS.labels(method)

        if handler.unary_unary is not None:
            behavior = handler.unary_unary

            async def unary_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                start = time.perf_counter()
                code = "OK"
                md, cid = metadata(context)
                try:
                    ctx = await enter(method, rule, md, cid)
                    check(request)
                    with request_context.bind(ctx):
                        return await behavior(request, context)
                except grpc.aio.AbortError:
                    code = "ABORTED_BY_HANDLER"
                    raise
                except Exception as exc:
                    code = code_for(exc).name if isinstance(exc, DomainError) else "INTERNAL"
                    await fail(method, exc, context, cid)
                finally:
                    (ok_total if code == "OK" else metrics.RPC_TOTAL.labels(method, code)).inc()
                    seconds.observe(time.perf_counter() - start)

            return grpc.unary_unary_rpc_method_handler(unary_unary, deserializer, handler.response_serializer)

        if handler.unary_stream is not None:
            stream_behavior = handler.unary_stream

            async def unary_stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                code = "OK"
                md, cid = metadata(context)
                try:
                    ctx = await enter(method, rule, md, cid)
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
