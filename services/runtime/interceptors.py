"""The mesh's per-RPC machinery: correlation id, authentication, authorization, tenant scoping,
contract validation, error mapping, metrics and the boundary log — once, for every context.

It is called "the interceptor" throughout the docs, but it is not a `grpc.aio.ServerInterceptor`: it is
the server's one generic RPC handler, and every service registers its handlers with it instead of with
the server (`learnflow serve` passes it to each `add_*Servicer_to_server`). Two per-call costs of
grpc.aio go away that way (docs/performance.md, "GetUser: less per request in the shared runtime"):

- grpc.aio runs a server interceptor as a coroutine of its own (plus a `functools.partial` and a
  coroutine for the continuation) on EVERY call, even one that only returns a cached handler. Here the
  wrapped handler comes from a dict lookup in `service()`, a plain method call.
- The generated `add_*Servicer_to_server` also registers each method with the core
  (`add_registered_method_handlers`), and grpc.aio's server loop then keeps one pending request per
  registered method and waits on all of them with `asyncio.wait` for every call it accepts: with the
  ~110 methods of all contexts that is 35 us of CPU per call instead of 5 (add and remove a
  done-callback on each future). Registered methods are not forwarded (the generic handler holds the
  same handlers), so the loop waits on one future, as for a bare server.

Handlers are wrapped once per method, on first use, and cached. The unary path is kept lean on purpose
(it is most of a short RPC's own Python): one pass over the metadata, the token cache asked without a
coroutine, the request context set and reset directly rather than through a context manager,
pre-bound metric children.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

import grpc

from services.runtime import metrics, request_context, validation
from services.runtime.authz import ALWAYS_PUBLIC_PREFIXES, Rule, TokenVerifier, authorize
from services.runtime.db import refused_value
from services.runtime.errors import (
    DomainError,
    FieldViolation,
    InvalidArgument,
    ResourceExhausted,
    Unauthenticated,
)
from services.runtime.logs import _trace_id
from services.runtime.request_context import Principal, RequestContext
from services.runtime.status import code_for, internal_status, to_status

log = logging.getLogger("learnflow.rpc")


class MeshInterceptor(grpc.GenericRpcHandler):
    """The server's generic handler: what the services registered with it, each method wrapped.

    mesh = MeshInterceptor(rules, verifier)
    server.add_generic_rpc_handlers((mesh,))
    add_IdentityServiceServicer_to_server(servicer, mesh)   # not `server`
    """

    def __init__(self, rules: dict[str, Rule], verifier: TokenVerifier, *, streams_per_caller: int = 8):
        self._rules = rules
        self._verifier = verifier
        # Server streams open per caller (tenant:subject) in this process: a stream holds a slot in
        # Envoy's cluster (1,024 by default, shared by every tenant) and polls the database for
        # minutes, so one caller opening hundreds would starve everyone else.
        self.streams_per_caller = streams_per_caller
        self._open_streams: dict[str, int] = {}
        self._handlers: list[grpc.GenericRpcHandler] = []
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    # The two registration calls of a grpc.aio.Server that generated `add_*Servicer_to_server` make.

    def add_generic_rpc_handlers(self, handlers: Iterable[grpc.GenericRpcHandler]) -> None:
        self._handlers.extend(handlers)

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        """Not forwarded to the server (see the module's docstring): the same handlers came with the
        generic handler registered just before, which `service()` finds them through."""

    def _open_stream(self, principal: Principal | None) -> str:
        """Takes one of the caller's stream slots (the key to give back), or RESOURCE_EXHAUSTED. A
        public stream (no principal) is not counted."""
        if principal is None:
            return ""
        key = f"{principal.tenant_id}:{principal.subject}"
        held = self._open_streams.get(key, 0)
        if held >= self.streams_per_caller:
            raise ResourceExhausted(
                f"{held} streams already open for this caller; close one, or retry in a few seconds",
                reason="TOO_MANY_STREAMS",
                metadata={"retry_after_seconds": "5", "limit": str(self.streams_per_caller)},
            )
        self._open_streams[key] = held + 1
        return key

    def _close_stream(self, key: str) -> None:
        left = self._open_streams.get(key, 1) - 1
        if left > 0:
            self._open_streams[key] = left
        else:
            self._open_streams.pop(key, None)

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method = details.method
        wrapped = self._wrapped.get(method)
        if wrapped is not None:
            return wrapped
        handler = None
        for generic in self._handlers:
            handler = generic.service(details)
            if handler is not None:
                break
        if handler is None:
            return None  # unknown method: UNIMPLEMENTED (and nothing cached for it)
        rule = self._rules.get(method)
        if rule is None:
            if method.startswith(ALWAYS_PUBLIC_PREFIXES):
                self._wrapped[method] = handler
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

    def _settled(self, method: str, rule: Rule, header: str, cid: str) -> RequestContext | None:
        """`_enter` without a coroutine, for the common case where nothing needs waiting for: a public
        method, no token, or a token answered from the verifier's cache. None when the token must be
        verified or is malformed (then `_enter` verifies it or says what is wrong)."""
        principal: Principal | None = None
        if not rule.public and header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer":
                return None
            principal = self._verifier.cached(token.strip())
            if principal is None:
                return None
        authorize(rule, principal)
        return RequestContext(cid, principal, principal.tenant_id if principal else None, method)

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
        refused = refused_value(exc)
        if refused is not None:
            # A backstop: the database refused a value from the request that no check caught. The
            # caller gets a 400 with what was wrong; the log says a check is missing.
            log.warning(
                "rpc refused by the database: a request check is missing",
                exc_info=exc,
                extra={"method": method},
            )
            error = InvalidArgument(
                "a value in the request cannot be stored",
                [FieldViolation("", refused)],
                reason="VALUE_REFUSED",
            )
            await context.abort_with_status(to_status(error, correlation_id=cid))
        log.error("rpc crashed", exc_info=exc, extra={"method": method})
        await context.abort_with_status(internal_status(cid, _trace_id()))
        return "INTERNAL"  # pragma: no cover (abort raises)

    def _wrap(self, method: str, rule: Rule, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        settled, enter, fail, metadata = self._settled, self._enter, self._fail, self._metadata
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
                    ctx = settled(method, rule, auth, cid) or await enter(method, rule, auth, cid)
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
                holder = ""
                try:
                    ctx = await enter(method, rule, auth, cid)
                    check(request)
                    holder = self._open_stream(ctx.principal)
                    with request_context.bind(ctx):
                        async for item in stream_behavior(request, context):
                            yield item
                except grpc.aio.AbortError:
                    raise
                except Exception as exc:
                    code = code_for(exc).name if isinstance(exc, DomainError) else "INTERNAL"
                    await fail(method, exc, context, cid)
                finally:
                    if holder:
                        self._close_stream(holder)
                    metrics.RPC_TOTAL.labels(method, code).inc()

            return grpc.unary_stream_rpc_method_handler(
                unary_stream, deserializer, handler.response_serializer
            )
        # Client-streaming and bidi RPCs are not used by any context yet; refuse rather than skip auth.
        raise RuntimeError(f"{method}: streaming requests are not supported by the interceptor yet")
