"""The Envoy v3 bootstrap for the LearnFlow edge: REST/JSON (transcoded) and native gRPC on one listener.

Request flow on the one HTTP listener (filter order matters, see REFERENCE.md section 2):

    cors -> jwt_authn -> rbac -> local_ratelimit -> buffer -> grpc_json_transcoder -> router

* cors answers preflights from the configured origins itself, so they never need a token.
* jwt_authn matches the ORIGINAL path: everything under "/" needs a token except the public RPCs
  (their REST paths and their native gRPC paths), health and CORS preflights. It puts the verified
  payload into dynamic metadata for rbac.
* rbac has no global rules; the reflection route admits only tokens with the operator role.
* local_ratelimit reads its per-route token bucket from the REST route the request matched.
* buffer bounds REST request bodies (413); off on native gRPC routes.
* grpc_json_transcoder turns REST into gRPC and rewrites the path to /pkg.Service/Method.
  match_incoming_request_route is FALSE (the default) on purpose. With false, the transcoder clears
  the route cache after the rewrite and the router re-matches on the gRPC path, so the upstream of a
  REST call is chosen by the same per-service gRPC route as a native gRPC call of that method: one
  place decides cluster and timeouts for both. The REST routes (one per google.api.http binding,
  matched on verb + path) exist for what is decided BEFORE the rewrite, on the original request:
  per-route rate limits and the streaming print options (per-route transcoder config). With true,
  the router would keep the REST route, so each REST route would have to repeat the cluster and
  timeout of its method, and a mistake there would silently send a REST call elsewhere than the
  same RPC over gRPC. (The REST routes name their method's cluster anyway, for readability.)
* CORS preflights get a route of their own: Envoy's cors filter ignores direct-response routes.
* Malformed requests are answered 400 by direct-response routes placed FIRST, before any route
  that forwards: a path or query that is not percent-encoded UTF-8 (a service would fail to parse
  the string field and answer 500), a body in a non-JSON content type on POST/PUT/PATCH (the
  transcoder would parse it as JSON anyway), and a query parameter named like a secret (secrets
  travel in bodies only). jwt_authn is off on them: the answer is 400 with or without a token.
* Unknown paths hit a catch-all route: a 404 direct response, with jwt_authn and the transcoder
  disabled on it, so a path no route knows can never be transcoded and forwarded without a token
  check (fail closed) and an unknown path answers 404, not 401.

Every failure a REST client can meet has ONE JSON shape, google.rpc.Status as JSON:

    {"code": <gRPC code>, "message": "...", "details": [{"@type": ".../google.rpc.ErrorInfo",
     "reason": "...", "domain": "learnflow.dev", "metadata": {"correlation_id": "<x-request-id>"}}]}

Upstream gRPC errors get it from the transcoder (convert_grpc_status); the errors Envoy makes itself
(unknown route, malformed JSON, unknown query parameter, 401, 403, 413, 429, 502/503/504) get it from
local_reply_config. Native gRPC callers are left alone (their local replies stay gRPC status).
Every 429 carries Retry-After: Envoy's from the rate limiter (or local_reply_config), the services'
from the `retry-after` trailer services/runtime/status.py adds to RESOURCE_EXHAUSTED, which the
transcoder passes on as a response header (an error is a trailers-only gRPC response).

The access log never records a query string (%PATH(NQ:...)%) nor a credential header.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import descriptor_pb2

from gateway.descriptors import DescriptorSet, HttpBinding, Method, Service, context_of_package
from gateway.descriptors import re2_escape as _re2_literal

JsonDict = dict[str, Any]

ERROR_DOMAIN = "learnflow.dev"  # services/runtime/status.py DOMAIN: same ErrorInfo domain as the services
PROVIDER = "learnflow"
SELF_JWKS_CLUSTER = "self_jwks"
OPS_SERVICE = "learnflow.ops.v1.OperationsService"
HEALTH_PREFIX = "/grpc.health.v1.Health/"
REFLECTION_PREFIX = "/grpc.reflection."

F_CORS = "envoy.filters.http.cors"
F_JWT = "envoy.filters.http.jwt_authn"
F_RBAC = "envoy.filters.http.rbac"
F_RATELIMIT = "envoy.filters.http.local_ratelimit"
F_BUFFER = "envoy.filters.http.buffer"
F_HEADER_NAMES = "envoy.filters.http.lua"
F_TRANSCODER = "envoy.filters.http.grpc_json_transcoder"
F_ROUTER = "envoy.filters.http.router"

T_HCM = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
)
T_CORS = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors"
T_CORS_POLICY = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy"
T_JWT = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"
T_JWT_PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig"
T_RBAC = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
T_RBAC_PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute"
T_RATELIMIT = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"
T_BUFFER = "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer"
T_LUA = "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua"
# Header names HTTP allows but gRPC metadata does not (only 0-9 a-z _ . -): the transcoder would pass
# them on and the service's gRPC library would refuse the whole call as INTERNAL ("Illegal header
# key"), a 500 for the client. Refused here as a 400 instead (the local reply mapper makes it JSON).
HEADER_NAMES_LUA = """
function envoy_on_request(handle)
  for name, _ in pairs(handle:headers()) do
    if not string.find(name, "^:?[0-9a-z_.-]+$") then
      handle:respond({[":status"] = "400"},
        "header name '" .. string.gsub(name, "[^%w%p]", "?") .. "' is not allowed: use 0-9 a-z _ . -")
      return
    end
  end
end
"""
T_BUFFER_PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.BufferPerRoute"
T_TRANSCODER = "type.googleapis.com/envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder"
T_ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
T_FILTER_CONFIG = "type.googleapis.com/envoy.config.route.v3.FilterConfig"
# A stream may stay quiet up to an RPC's own maximum wait (StreamConversation: 3,600 s); Envoy's
# default stream idle timeout (5 min) would cut it first.
STREAM_IDLE_TIMEOUT = "3660s"
T_STDOUT_LOG = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"
T_HTTP_OPTIONS = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
T_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
T_CEL_FILTER = "type.googleapis.com/envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter"
T_DOWNSTREAM_CONNECTIONS = (
    "type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3."
    "DownstreamConnectionsConfig"
)

# HTTP status of a local reply -> (google.rpc.Code, ErrorInfo.reason, message). `%LOCAL_REPLY_BODY%` is
# Envoy's own text (e.g. "Jwt is missing", the transcoder's JSON parse error). The codes are the
# inverse of the transcoder's gRPC -> HTTP mapping, so a client sees the same code for the same HTTP
# status whether Envoy or a service produced it.
LOCAL_REPLY_STATUS: dict[int, tuple[int, str, str]] = {
    400: (3, "INVALID_ARGUMENT", "%LOCAL_REPLY_BODY%"),
    401: (16, "UNAUTHENTICATED", "authentication required: %LOCAL_REPLY_BODY%"),
    403: (7, "PERMISSION_DENIED", "permission denied: %LOCAL_REPLY_BODY%"),
    404: (5, "ROUTE_NOT_FOUND", "%LOCAL_REPLY_BODY%"),
    405: (12, "METHOD_NOT_ALLOWED", "%LOCAL_REPLY_BODY%"),
    408: (4, "REQUEST_TIMEOUT", "request timeout: %LOCAL_REPLY_BODY%"),
    413: (8, "PAYLOAD_TOO_LARGE", "%LOCAL_REPLY_BODY%"),
    429: (8, "RATE_LIMITED", "too many requests: rate limit exceeded, retry later"),
    431: (8, "HEADERS_TOO_LARGE", "%LOCAL_REPLY_BODY%"),
    500: (13, "INTERNAL", "internal gateway error: %LOCAL_REPLY_BODY%"),
    501: (12, "UNIMPLEMENTED", "%LOCAL_REPLY_BODY%"),
    502: (14, "BAD_GATEWAY", "bad gateway: %LOCAL_REPLY_BODY%"),
    503: (14, "UNAVAILABLE", "service unavailable: %LOCAL_REPLY_BODY%"),
    504: (4, "DEADLINE_EXCEEDED", "upstream timeout: %LOCAL_REPLY_BODY%"),
}
# Any other local reply >= 400.
LOCAL_REPLY_FALLBACK: tuple[int, str, str] = (2, "UNKNOWN", "%LOCAL_REPLY_BODY%")
NOT_FOUND_TEXT = "no API route matches this method and path"
BAD_ENCODING_TEXT = (
    "the request path or query is not valid percent-encoded UTF-8 (RFC 3986 with UTF-8 octets)"
)
BAD_CONTENT_TYPE_TEXT = (
    "unsupported content-type: this API takes a JSON body (content-type: application/json)"
)
# Where jwt_authn puts a verified token's payload (dynamic metadata of the jwt_authn filter), for the
# RBAC rule that admits only operators to reflection.
JWT_PAYLOAD_KEY = "jwt_payload"
# The `roles` claim holds role names as services/runtime/authz.py ROLE_NAMES spells them
# (ROLE_OPERATOR -> "operator"); tests/gateway checks the two agree.
OPERATOR_ROLE = "operator"
# REST bodies are bounded at the edge. A request body over the limit is answered 413 (JSON) by the
# buffer filter before anything reaches a service (the transcoder's own request limit bounds only its
# internal buffer, not the body: it streams a large body through). A reply over the limit is refused
# with a 502 saying so, instead of the transcoder's bare 500. The request limit keeps anything a
# client stores small enough that reading it back (lists carry up to a page of such records) stays
# under the reply limit. Native gRPC is neither buffered nor transcoded: there the services' own
# 4 MiB message limit applies.
MAX_REQUEST_BODY_BYTES = 1 << 20
MAX_RESPONSE_BODY_BYTES = 16 << 20
RESPONSE_TOO_LARGE_DETAILS = "grpc_json_transcode_failure{response_buffer_size_limit_reached}"
RESPONSE_TOO_LARGE_TEXT = (
    f"the service's reply is too large for the gateway (over {MAX_RESPONSE_BODY_BYTES >> 20} MiB as JSON);"
    " ask for less, e.g. a smaller pageSize"
)
# Seconds a client is told to wait after a 429 that carries no Retry-After of its own.
DEFAULT_RETRY_AFTER_S = 1
CORS_EXPOSE_HEADERS = "x-request-id, retry-after, www-authenticate"


@dataclass(frozen=True)
class TokenBucket:
    """`per_second` tokens are added every second up to `burst`; each request takes one."""

    per_second: int
    burst: int


@dataclass(frozen=True)
class RateLimits:
    """Local (per Envoy instance) token buckets, one bucket per route.

    writes: every REST POST/PUT/PATCH/DELETE route (and the native gRPC path of those RPCs).
    strict: the credential-guessing endpoints in `strict_paths` (REST path; the matching RPC's native
    gRPC path gets the same numbers). Replaces `writes` there.
    """

    writes: TokenBucket | None = TokenBucket(per_second=200, burst=400)
    strict: TokenBucket | None = TokenBucket(per_second=10, burst=20)
    # The public endpoints that check a secret: each guess costs the service an argon2id hash.
    strict_paths: frozenset[str] = frozenset({"/v1/auth:login", "/v1/auth:serviceToken"})


@dataclass(frozen=True)
class JwksConfig:
    """How jwt_authn verifies access tokens.

    By default the JWKS is fetched through this Envoy itself (`GET <jwks_path>` on the cluster
    `self_jwks`, i.e. 127.0.0.1:<listen port>) and so from the identity context, in the background,
    again every `cache_duration_s`. `inline_jwks` (a JWKS JSON document) replaces the fetch, for tests.
    """

    issuer: str = "learnflow"
    audiences: tuple[str, ...] = ("learnflow",)
    jwks_path: str = "/v1/jwks"
    cache_duration_s: int = 60
    fetch_timeout_s: int = 5
    inline_jwks: str | None = None


@dataclass(frozen=True)
class GatewayPlan:
    """Everything decided before emitting YAML: which service goes to which cluster, and so on."""

    services: tuple[Service, ...]
    service_cluster: Mapping[str, str]
    clusters: Mapping[str, tuple[str, int]]
    first_cluster: str
    public_methods: tuple[Method, ...] = field(default=())


# ---------------------------------------------------------------------------------------------------
# Descriptor handling
# ---------------------------------------------------------------------------------------------------


def descriptor_for_envoy(ds: DescriptorSet) -> bytes:
    """The descriptor set bytes for the transcoder, plus google/rpc/error_details.proto (and its
    imports) when missing: the services put google.rpc.ErrorInfo / BadRequest into
    grpc-status-details-bin, and convert_grpc_status can only print details whose types are in the
    descriptor set (Envoy adds google.rpc.Status and google.protobuf.Any itself, nothing more).
    Comments (source_code_info) are dropped: the transcoder never reads them, and with them the
    descriptor, which the config embeds twice, would push Envoy's ConfigMap past its 1 MiB limit
    (protovalidate's rule file alone is mostly documentation). Extra files are appended (a
    FileDescriptorSet is a list of `file` fields, so concatenation is a valid message) in dependency
    order.
    """
    from google.protobuf import any_pb2, duration_pb2
    from google.rpc import code_pb2, error_details_pb2, status_pb2

    have = ds.file_names
    extra = descriptor_pb2.FileDescriptorSet()
    for module in (duration_pb2, any_pb2, code_pb2, status_pb2, error_details_pb2):
        fd = module.DESCRIPTOR
        if fd.name not in have:
            proto = descriptor_pb2.FileDescriptorProto()
            fd.CopyToProto(proto)
            extra.file.append(proto)
            have.add(fd.name)
    # Re-serializing puts the options of extensions known to this process in field order and unknown
    # ones last, so the bytes depend on what was imported: import every option module the contracts
    # use first (descriptors.py imports google.api's and learnflow.auth's), so the output is the same
    # in every process.
    from buf.validate import validate_pb2  # noqa: F401

    own = descriptor_pb2.FileDescriptorSet.FromString(ds.raw)
    for file in own.file:
        file.ClearField("source_code_info")
    return own.SerializeToString(deterministic=True) + extra.SerializeToString(deterministic=True)


def plan(
    ds: DescriptorSet,
    upstreams: Mapping[str, tuple[str, int]],
    *,
    service_clusters: Mapping[str, str] | None = None,
    ops_cluster: str | None = None,
) -> GatewayPlan:
    """Decide the cluster of every service.

    `learnflow.<context>.v1.X` goes to cluster `<context>`; `learnflow.ops.v1.OperationsService` is
    hosted by every process and goes to `ops_cluster`, by default the first context cluster in
    sorted order. `service_clusters` overrides any of these by full service name.
    """
    if not upstreams:
        raise ValueError("no upstream clusters given")
    first = sorted(upstreams)[0]
    mapping: dict[str, str] = {}
    for svc in ds.services:
        ctx = context_of_package(svc.package)
        if service_clusters and svc.full_name in service_clusters:
            mapping[svc.full_name] = service_clusters[svc.full_name]
        elif svc.full_name == OPS_SERVICE or ctx == "ops":
            mapping[svc.full_name] = ops_cluster or first
        else:
            mapping[svc.full_name] = ctx
    missing = sorted({c for c in mapping.values() if c not in upstreams})
    if missing:
        raise ValueError(
            f"no upstream address for cluster(s) {missing}; services: "
            + ", ".join(sorted(s for s, c in mapping.items() if c in missing))
        )
    for m in ds.methods:
        if any(b.verb == "OPTIONS" for b in m.bindings):
            # CORS preflights are exempt from jwt_authn; an RPC bound to OPTIONS would be too.
            raise ValueError(f"{m.full_name}: OPTIONS bindings are not supported by the gateway")
        if m.internal and m.bindings:
            raise ValueError(f"{m.full_name}: an internal RPC may not declare an HTTP binding")
    public = tuple(m for s in ds.services for m in s.methods if m.public and not m.internal)
    return GatewayPlan(ds.services, mapping, dict(upstreams), first, public)


# ---------------------------------------------------------------------------------------------------
# Small builders
# ---------------------------------------------------------------------------------------------------


def _socket(host: str, port: int) -> JsonDict:
    return {"socket_address": {"address": host, "port_value": port}}


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _method_header(verb: str) -> JsonDict:
    return {"name": ":method", "string_match": {"exact": verb}}


def _binding_match(binding: HttpBinding) -> JsonDict:
    tpl = binding.parsed
    match: JsonDict = (
        {"path": tpl.literal_path()} if tpl.is_literal else {"safe_regex": {"regex": tpl.regex()}}
    )
    match["headers"] = [_method_header(binding.verb)]
    return match


def _percent(value: int = 100) -> JsonDict:
    return {"numerator": value, "denominator": "HUNDRED"}


def _ratelimit(name: str, bucket: TokenBucket) -> JsonDict:
    return {
        "@type": T_RATELIMIT,
        "stat_prefix": f"ratelimit_{name}",
        "token_bucket": {
            "max_tokens": bucket.burst,
            "tokens_per_fill": bucket.per_second,
            "fill_interval": "1s",
        },
        "filter_enabled": {"runtime_key": f"ratelimit.{name}.enabled", "default_value": _percent()},
        "filter_enforced": {"runtime_key": f"ratelimit.{name}.enforced", "default_value": _percent()},
        "response_headers_to_add": [
            {"append_action": "OVERWRITE_IF_EXISTS_OR_ADD", "header": {"key": "retry-after", "value": "1"}}
        ],
    }


def rate_limit_for(
    method: Method, limits: RateLimits, binding: HttpBinding | None = None
) -> tuple[str, TokenBucket] | None:
    """The token bucket (name, numbers) of one REST binding of a method, or of its native gRPC path
    when `binding` is None. Strict: any binding of the method is a strict path (the whole RPC is
    a credential endpoint). Writes: the binding is POST/PUT/PATCH/DELETE; for the gRPC path, any
    binding is."""
    if limits.strict is not None and any(b.template in limits.strict_paths for b in method.bindings):
        return "strict", limits.strict
    is_write = binding.is_write if binding is not None else any(b.is_write for b in method.bindings)
    if limits.writes is not None and is_write:
        return "writes", limits.writes
    return None


def _transcoder(services: Sequence[str], descriptor_b64: str, *, sse: bool = False) -> JsonDict:
    print_options: JsonDict = {
        "add_whitespace": False,
        "always_print_primitive_fields": True,
        "always_print_enums_as_ints": False,
        "preserve_proto_field_names": False,
    }
    if sse:
        print_options["stream_sse_style_delimited"] = True
    return {
        "@type": T_TRANSCODER,
        "proto_descriptor_bin": descriptor_b64,
        "services": list(services),
        "print_options": print_options,
        # See the module docstring: re-match on the gRPC path after the rewrite.
        "match_incoming_request_route": False,
        "auto_mapping": False,
        "convert_grpc_status": True,
        "max_request_body_size": MAX_REQUEST_BODY_BYTES,
        "max_response_body_size": MAX_RESPONSE_BODY_BYTES,
        "request_validation_options": {
            # An unmappable REST request is answered 404/400 here instead of being passed to the
            # router as a (non-gRPC) request.
            "reject_unknown_method": True,
            "reject_unknown_query_parameters": True,
            # A path variable and a body field naming the same field is a 400, not a silent override.
            "reject_binding_body_field_collisions": True,
        },
    }


def _error_body(code: int, reason: str, message: str) -> JsonDict:
    return {
        "json_format": {
            "code": code,
            "message": message,
            "details": [
                {
                    "@type": T_ERROR_INFO,
                    "reason": reason,
                    "domain": ERROR_DOMAIN,
                    "metadata": {"correlation_id": "%REQ(X-REQUEST-ID)%"},
                }
            ],
        },
        "content_type": "application/json",
    }


def _status_filter(op: str, status: int) -> JsonDict:
    return {
        "status_code_filter": {
            "comparison": {
                "op": op,
                "value": {"default_value": status, "runtime_key": f"local_reply.status_{status}"},
            }
        }
    }


def local_reply_config() -> JsonDict:
    """Envoy's own errors as google.rpc.Status JSON (see the module docstring)."""
    mappers: list[JsonDict] = [
        {
            # Native gRPC calls (gRPC content type and not transcoded: the transcoder sets
            # x-envoy-original-path): matched first and left unchanged, so their local replies stay
            # a gRPC status (a JSON body would otherwise end up inside grpc-message). No
            # body_format_override and no top-level body_format: nothing is rewritten.
            "filter": {
                "and_filter": {
                    "filters": [
                        {
                            "header_filter": {
                                "header": {
                                    "name": "content-type",
                                    "string_match": {"prefix": "application/grpc"},
                                }
                            }
                        },
                        {
                            "header_filter": {
                                "header": {
                                    "name": "x-envoy-original-path",
                                    "present_match": True,
                                    "invert_match": True,
                                }
                            }
                        },
                    ]
                }
            }
        }
    ]
    # A reply too large to transcode: the transcoder answers 500, which reads as a bug in the
    # gateway. It is the upstream's answer that cannot be delivered: 502 with a reason of its own.
    # (Only a CEL filter can see the response code details that tell this 500 from others.)
    mappers.append(
        {
            "filter": {
                "extension_filter": {
                    "name": "envoy.access_loggers.extension_filters.cel",
                    "typed_config": {
                        "@type": T_CEL_FILTER,
                        "expression": f"response.code_details == '{RESPONSE_TOO_LARGE_DETAILS}'",
                    },
                }
            },
            "status_code": 502,
            "body_format_override": _error_body(14, "RESPONSE_TOO_LARGE", RESPONSE_TOO_LARGE_TEXT),
        }
    )
    for status, (code, reason, message) in LOCAL_REPLY_STATUS.items():
        mapper: JsonDict = {
            "filter": _status_filter("EQ", status),
            "body_format_override": _error_body(code, reason, message),
        }
        if status == 429:
            # Every 429 Envoy makes says when to come back (the rate limiter sets its own; this
            # covers any other source of a local 429).
            mapper["headers_to_add"] = [
                {
                    "append_action": "ADD_IF_ABSENT",
                    "header": {"key": "retry-after", "value": str(DEFAULT_RETRY_AFTER_S)},
                }
            ]
        mappers.append(mapper)
    code, reason, message = LOCAL_REPLY_FALLBACK
    mappers.append(
        {"filter": _status_filter("GE", 400), "body_format_override": _error_body(code, reason, message)}
    )
    return {"mappers": mappers}


ACCESS_LOG_FORMAT: JsonDict = {
    "time": "%START_TIME%",
    "component": "envoy",
    "correlation_id": "%REQ(X-REQUEST-ID)%",
    "method": "%REQ(X-ENVOY-ORIGINAL-METHOD?:METHOD)%",
    # Paths WITHOUT the query string: a query can carry secrets (a token, a password someone put in
    # a URL), and the log is read by more people than the API is. The REST path (before the
    # transcoder's rewrite) and the gRPC path after it.
    "path": "%PATH(NQ:ORIG_OR_PATH)%",
    "grpc_path": "%PATH(NQ:PATH)%",
    "protocol": "%PROTOCOL%",
    "status": "%RESPONSE_CODE%",
    "grpc_status": "%GRPC_STATUS_NUMBER%",
    "response_flags": "%RESPONSE_FLAGS%",
    "details": "%RESPONSE_CODE_DETAILS%",
    "route": "%ROUTE_NAME%",
    "upstream_cluster": "%UPSTREAM_CLUSTER%",
    "upstream_host": "%UPSTREAM_HOST%",
    "duration_ms": "%DURATION%",
    "upstream_ms": "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%",
    "bytes_received": "%BYTES_RECEIVED%",
    "bytes_sent": "%BYTES_SENT%",
    "client": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
    "user_agent": "%REQ(USER-AGENT)%",
    "origin": "%REQ(ORIGIN)%",
    "traceparent": "%REQ(TRACEPARENT)%",
}


def _cors_policy(origins: Sequence[str]) -> JsonDict:
    return {
        "@type": T_CORS_POLICY,
        "allow_origin_string_match": [{"exact": o} for o in origins],
        "allow_methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
        "allow_headers": "authorization, content-type, x-request-id, traceparent, tracestate",
        "expose_headers": CORS_EXPOSE_HEADERS,
        "max_age": "600",
    }


# ---------------------------------------------------------------------------------------------------
# Routes and jwt rules
# ---------------------------------------------------------------------------------------------------


@functools.cache
def _descriptor_subset(descriptor_b64: str, service: str) -> str:
    """The descriptor set (base64) cut to the file defining `service`, the google.rpc files
    convert_grpc_status prints details with, and everything they import, in the original order (a
    dependency before its dependents)."""
    full = descriptor_pb2.FileDescriptorSet.FromString(base64.b64decode(descriptor_b64))
    files = {f.name: f for f in full.file}
    wanted = [
        f.name
        for f in full.file
        if f.name.startswith("google/rpc/") or any(f"{f.package}.{s.name}" == service for s in f.service)
    ]
    keep: set[str] = set()
    while wanted:
        name = wanted.pop()
        if name in keep or name not in files:
            continue
        keep.add(name)
        wanted.extend(files[name].dependency)
    subset = descriptor_pb2.FileDescriptorSet(file=[f for f in full.file if f.name in keep])
    return base64.b64encode(subset.SerializeToString()).decode("ascii")


def _rest_routes(
    p: GatewayPlan, limits: RateLimits, descriptor_b64: str, services: Sequence[str]
) -> list[JsonDict]:
    exact: list[tuple[bool, JsonDict]] = []
    regex: list[tuple[bool, JsonDict]] = []
    for svc in p.services:
        cluster = p.service_cluster[svc.full_name]
        for m in svc.methods:
            for b in m.bindings:
                per_filter: JsonDict = {}
                bucket = rate_limit_for(m, limits, b)
                if bucket is not None:
                    per_filter[F_RATELIMIT] = _ratelimit(*bucket)
                action: JsonDict = {"cluster": cluster}
                if m.server_streaming:
                    # STREAMING: the place where server-streaming RPCs get their REST framing. The
                    # transcoder reads its per-route config from the REST route (before the rewrite),
                    # so SSE framing (text/event-stream) is switched on here, per route. No timeout:
                    # the re-matched gRPC route of a streaming method has `timeout: 0s` as well.
                    # Only the service's own files in it: every streaming route carries its own copy,
                    # and the whole set each time would outgrow the ConfigMap's 1 MiB.
                    per_filter[F_TRANSCODER] = _transcoder(
                        [svc.full_name], _descriptor_subset(descriptor_b64, svc.full_name), sse=True
                    )
                    action["timeout"] = "0s"
                    action["idle_timeout"] = STREAM_IDLE_TIMEOUT
                route: JsonDict = {
                    "name": f"rest {b.verb} {b.template} -> {m.full_name}",
                    "match": _binding_match(b),
                    "route": action,
                }
                if per_filter:
                    route["typed_per_filter_config"] = per_filter
                (exact if b.parsed.is_literal else regex).append((bool(b.parsed.verb), route))
    # Exact paths first: a literal like /v1/users:search must win over /v1/users/{id}-style regexes.
    # Then templates with a custom verb: /v1/conversations/{id}:stream must win over
    # /v1/conversations/{id}, whose [^/]+ also matches "<id>:stream".
    return [r for _, r in exact] + [r for verb, r in regex if verb] + [r for verb, r in regex if not verb]


NO_BUFFER: JsonDict = {F_BUFFER: {"@type": T_BUFFER_PER_ROUTE, "disabled": True}}


def _grpc_routes(p: GatewayPlan, limits: RateLimits) -> list[JsonDict]:
    """Native gRPC: the buffer filter is off on all of these (REST requests re-matched here after the
    transcoder's rewrite were already buffered on their REST route)."""
    per_method: list[JsonDict] = []
    per_service: list[JsonDict] = []
    post = [_method_header("POST")]
    for svc in p.services:
        cluster = p.service_cluster[svc.full_name]
        for m in svc.methods:
            if m.internal:  # not from the edge: answered here, never routed to the cluster
                per_method.append(
                    {
                        "name": f"grpc {m.full_name} (internal)",
                        "match": {"path": m.grpc_path, "headers": post},
                        "direct_response": {"status": 404},
                    }
                )
                continue
            bucket = rate_limit_for(m, limits)
            if bucket is None and not m.server_streaming and not m.client_streaming:
                continue
            action: JsonDict = {"cluster": cluster}
            if m.server_streaming or m.client_streaming:
                action["timeout"] = "0s"  # streams live longer than the default 15 s route timeout
                action["idle_timeout"] = STREAM_IDLE_TIMEOUT
            route: JsonDict = {
                "name": f"grpc {m.full_name}",
                "match": {"path": m.grpc_path, "headers": post},
                "route": action,
                "typed_per_filter_config": dict(NO_BUFFER),
            }
            if bucket is not None:
                route["typed_per_filter_config"][F_RATELIMIT] = _ratelimit(*bucket)
            per_method.append(route)
        per_service.append(
            {
                "name": f"grpc {svc.full_name}",
                "match": {"prefix": f"/{svc.full_name}/", "headers": post},
                "route": {"cluster": cluster},
                "typed_per_filter_config": dict(NO_BUFFER),
            }
        )
    infra = [
        {
            "name": "grpc health",
            "match": {"prefix": HEALTH_PREFIX, "headers": post},
            "route": {"cluster": p.first_cluster},
            "typed_per_filter_config": dict(NO_BUFFER),
        },
        {
            # Reflection lists every service and message: an attacker's map. At the public edge it
            # needs a token (jwt_authn) AND the operator role (RBAC on the token's roles claim);
            # on the mesh's own gRPC port it stays open for grpcurl.
            "name": "grpc reflection",
            "match": {"prefix": REFLECTION_PREFIX, "headers": post},
            "route": {"cluster": p.first_cluster},
            "typed_per_filter_config": {**NO_BUFFER, F_RBAC: _operators_only()},
        },
    ]
    return per_method + per_service + infra


def _operators_only() -> JsonDict:
    """RBAC (per route): allow only requests whose verified token (jwt_authn's payload in dynamic
    metadata) has OPERATOR_ROLE among its `roles`. No token or another role: 403."""
    has_role = {
        "sourced_metadata": {
            "metadata_matcher": {
                "filter": F_JWT,
                "path": [{"key": JWT_PAYLOAD_KEY}, {"key": "roles"}],
                "value": {"list_match": {"one_of": {"string_match": {"exact": OPERATOR_ROLE}}}},
            }
        }
    }
    return {
        "@type": T_RBAC_PER_ROUTE,
        "rbac": {
            "rules": {
                "action": "ALLOW",
                "policies": {"operators": {"permissions": [{"any": True}], "principals": [has_role]}},
            }
        },
    }


def _preflight_route(first_cluster: str) -> JsonDict:
    """CORS preflights need a route with a route entry: Envoy's cors filter ignores direct-response
    routes. For an allowed origin the cors filter answers the preflight itself (before jwt_authn);
    for any other origin the request goes on to the transcoder, which cannot map an OPTIONS request
    to an RPC and answers 404 (reject_unknown_method): nothing reaches the cluster named here. gRPC
    content types are excluded (those would pass the transcoder untouched) and fall to the 404 route."""
    return {
        "name": "cors preflight",
        "match": {
            "prefix": "/",
            "headers": [
                _method_header("OPTIONS"),
                {"name": "access-control-request-method", "present_match": True},
                {
                    "name": "content-type",
                    "string_match": {"prefix": "application/grpc"},
                    "invert_match": True,
                    "treat_missing_header_as_empty": True,
                },
            ],
        },
        "route": {"cluster": first_cluster},
    }


def _direct_routes(
    name: str, match: JsonDict, status: int, text: str, cors_origins: Sequence[str]
) -> list[JsonDict]:
    """Routes answered by Envoy itself (local_reply_config turns `text` into the JSON error shape).
    jwt_authn and the transcoder are off on them: nothing on such a route ever reaches an upstream,
    so no token is needed to learn the answer, and a request here is never rewritten into a gRPC
    call behind jwt_authn's back (fail closed)."""
    per_filter: JsonDict = {
        F_JWT: {"@type": T_JWT_PER_ROUTE, "disabled": True},
        F_TRANSCODER: {"@type": T_FILTER_CONFIG, "disabled": True},
    }
    direct = {"status": status, "body": {"inline_string": text}}
    routes: list[JsonDict] = []
    if cors_origins:
        # The cors filter skips direct responses too; so that a browser can read this error, the
        # allowed origins get the CORS response headers from the route itself.
        origin_regex = "|".join(_re2_literal(o) for o in cors_origins)
        origin = {"name": "origin", "string_match": {"safe_regex": {"regex": origin_regex}}}
        routes.append(
            {
                "name": f"{name} (cors)",
                "match": {**match, "headers": [*match.get("headers", []), origin]},
                "direct_response": direct,
                "response_headers_to_add": [
                    {"append_action": "OVERWRITE_IF_EXISTS_OR_ADD", "header": {"key": k, "value": v}}
                    for k, v in (
                        ("access-control-allow-origin", "%REQ(ORIGIN)%"),
                        ("access-control-expose-headers", CORS_EXPOSE_HEADERS),
                        ("vary", "origin"),
                    )
                ],
                "typed_per_filter_config": per_filter,
            }
        )
    routes.append(
        {"name": name, "match": match, "direct_response": direct, "typed_per_filter_config": per_filter}
    )
    return routes


CONSOLE_CLUSTER = "console"


def _console_route() -> JsonDict:
    """The web console (console/, docs/console.md) on the same origin as the API: every GET or HEAD
    that is not under /v1/ and not gRPC goes to the console's static server, which answers index.html
    for the app's own paths. No token is needed to load the app (it signs in through the API);
    jwt_authn and the transcoder are off, and nothing here reaches a context."""
    return {
        "name": "console",
        "match": {
            "prefix": "/",
            "headers": [
                {"name": ":method", "string_match": {"safe_regex": {"regex": "GET|HEAD"}}},
                {"name": ":path", "string_match": {"prefix": "/v1/"}, "invert_match": True},
                {
                    "name": "content-type",
                    "string_match": {"prefix": "application/grpc"},
                    "invert_match": True,
                    "treat_missing_header_as_empty": True,
                },
            ],
        },
        "route": {"cluster": CONSOLE_CLUSTER, "timeout": "10s"},
        "typed_per_filter_config": {
            F_JWT: {"@type": T_JWT_PER_ROUTE, "disabled": True},
            F_TRANSCODER: {"@type": T_FILTER_CONFIG, "disabled": True},
        },
    }


def _not_found_routes(cors_origins: Sequence[str]) -> list[JsonDict]:
    """Unknown paths: 404 (see the module docstring)."""
    return _direct_routes("not found", {"prefix": "/"}, 404, NOT_FOUND_TEXT, cors_origins)


# RE2 for a request target (path and query, as in :path) that is printable ASCII with percent-escapes
# decoding to well-formed UTF-8 (RFC 3629 table: no overlongs, no surrogates, nothing past U+10FFFF).
# The transcoder copies escaped bytes into proto `string` fields unchecked; a service then fails to
# parse the message (protobuf rejects invalid UTF-8 in strings) and answers 500. Checked here, such a
# request is a 400 before it reaches any filter that could forward it.
_HEX = "[0-9A-Fa-f]"
_CONT = "%[89ABab]" + _HEX  # a continuation byte 0x80-0xBF
_UTF8_ESCAPES = "|".join(
    [
        "%[0-7]" + _HEX,  # U+0000-U+007F
        "%[Cc][2-9A-Fa-f]" + _CONT + "|%[Dd]" + _HEX + _CONT,  # C2-DF 80-BF
        "%[Ee]0%[ABab]" + _HEX + _CONT,  # E0 A0-BF 80-BF
        "%[Ee][1-9A-Ca-c]" + _CONT * 2,  # E1-EC 80-BF 80-BF
        "%[Ee][Dd]%[89]" + _HEX + _CONT,  # ED 80-9F 80-BF (no surrogates)
        "%[Ee][EeFf]" + _CONT * 2,  # EE-EF 80-BF 80-BF
        "%[Ff]0%[9ABab]" + _HEX + _CONT * 2,  # F0 90-BF 80-BF 80-BF
        "%[Ff][1-3]" + _CONT * 3,  # F1-F3 80-BF x3
        "%[Ff]4%8" + _HEX + _CONT * 2,  # F4 80-8F 80-BF 80-BF
    ]
)
VALID_REQUEST_TARGET = "(?:[!-$&-~]|" + _UTF8_ESCAPES + ")*"
RE2_MAX_PROGRAM_SIZE = 256


def _bad_encoding_routes(cors_origins: Sequence[str]) -> list[JsonDict]:
    """A path or query that is not valid percent-encoded UTF-8: 400, whatever the route."""
    match = {
        "prefix": "/",
        "headers": [
            {
                "name": ":path",
                "string_match": {"safe_regex": {"regex": VALID_REQUEST_TARGET}},
                "invert_match": True,
            }
        ],
    }
    return _direct_routes("invalid encoding", match, 400, BAD_ENCODING_TEXT, cors_origins)


# A request target whose query has a parameter NAMED like a secret (the value does not matter), or a
# parameter name with a percent-escape (which could spell one). Secrets travel in JSON bodies only:
# URLs end up in logs, proxies and browser history. The transcoder would otherwise bind such a
# parameter to the field of that name, e.g. `POST /v1/users?password=...`.
SECRET_NAME = r"(?i:password|secret|access_?token|refresh_?token|api_?key)"
SECRET_QUERY_TARGET = r"[^?]*\?(?:[^&]*&)*[^=&]*(?:" + SECRET_NAME + r"|%)[^=&]*(?:[=&].*)?"
SECRET_IN_URL_TEXT = (
    "secrets are not accepted in the URL: a query parameter named like a password, secret, token or key"
    " (or with an escaped name) is refused; send it in the JSON body"
)


def _secret_in_url_routes(cors_origins: Sequence[str]) -> list[JsonDict]:
    """A secret-looking query parameter: 400 before auth and before the access log could matter."""
    match = {
        "prefix": "/",
        "headers": [{"name": ":path", "string_match": {"safe_regex": {"regex": SECRET_QUERY_TARGET}}}],
    }
    return _direct_routes("secret in url", match, 400, SECRET_IN_URL_TEXT, cors_origins)


# A JSON media type: application/json or application/<x>+json, any parameters (charset=utf-8).
JSON_CONTENT_TYPE = r"(?i)application/(?:[a-z0-9.+-]*\+)?json\s*(?:;.*)?"


def _bad_content_type_routes(cors_origins: Sequence[str]) -> list[JsonDict]:
    """A request that carries a body in a non-JSON content type (text/plain, a form, ...) on a
    REST write: 400. The transcoder would otherwise parse any body as JSON whatever its declared
    type. Native gRPC (application/grpc*) is left alone; so is a request with no content-type (the
    transcoder parses its body as JSON and answers 400 when that fails)."""
    match = {
        "prefix": "/",
        "headers": [
            {"name": ":method", "string_match": {"safe_regex": {"regex": "POST|PUT|PATCH"}}},
            {"name": "content-type", "present_match": True},
            {
                "name": "content-type",
                "string_match": {"safe_regex": {"regex": JSON_CONTENT_TYPE}},
                "invert_match": True,
            },
            {"name": "content-type", "string_match": {"prefix": "application/grpc"}, "invert_match": True},
        ],
    }
    return _direct_routes("unsupported content-type", match, 400, BAD_CONTENT_TYPE_TEXT, cors_origins)


def jwt_rules(p: GatewayPlan) -> list[JsonDict]:
    """First match wins. Public RPCs (AuthRule.public) are exempt on their REST bindings (verb + path)
    and their native gRPC path; health and CORS preflights too; everything else, reflection
    included, needs a valid token. Rules see the ORIGINAL path (jwt_authn runs before the
    transcoder)."""
    rules: list[JsonDict] = [
        {
            "match": {
                "prefix": "/",
                "headers": [
                    _method_header("OPTIONS"),
                    {"name": "access-control-request-method", "present_match": True},
                ],
            }
        }
    ]
    for m in p.public_methods:
        for b in m.bindings:
            rules.append({"match": _binding_match(b)})
        rules.append({"match": {"path": m.grpc_path, "headers": [_method_header("POST")]}})
    rules.append({"match": {"prefix": HEALTH_PREFIX}})
    rules.append({"match": {"prefix": "/"}, "requires": {"provider_name": PROVIDER}})
    return rules


def _jwt_filter(p: GatewayPlan, jwks: JwksConfig, self_host: str, listen_port: int) -> JsonDict:
    provider: JsonDict = {
        "issuer": jwks.issuer,
        "audiences": list(jwks.audiences),
        # Keep the Authorization header: the services verify the token again (defence in depth).
        "forward": True,
        "from_headers": [{"name": "Authorization", "value_prefix": "Bearer "}],
        # Verified tokens are cached (until they expire), so a client's repeated calls cost one ES256
        # signature check, not one per request.
        "jwt_cache_config": {"jwt_cache_size": 10_000},
        # The verified payload goes into dynamic metadata, for the RBAC rule on reflection.
        "payload_in_metadata": JWT_PAYLOAD_KEY,
    }
    if jwks.inline_jwks is not None:
        provider["local_jwks"] = {"inline_string": jwks.inline_jwks}
    else:
        provider["remote_jwks"] = {
            "http_uri": {
                "uri": f"http://{self_host}:{listen_port}{jwks.jwks_path}",
                "cluster": SELF_JWKS_CLUSTER,
                "timeout": f"{jwks.fetch_timeout_s}s",
            },
            "cache_duration": f"{jwks.cache_duration_s}s",
            # Fetched (and refreshed every cache_duration) by the main thread for every worker, never
            # by a request: otherwise the first request on each worker thread, and one a minute after,
            # waits on a fetch, and a body over 1 MiB sent meanwhile fills Envoy's stream buffer, Envoy
            # stops reading and the request hangs instead of getting its 413. The listener does not
            # wait for the first fetch (it goes through this listener); the local mesh waits for it.
            # The first fetch fails (it runs before the listener is up): retry after 0.5 s, not 1 s.
            "async_fetch": {"fast_listener": True, "failed_refetch_duration": "0.5s"},
        }
    return {"@type": T_JWT, "providers": {PROVIDER: provider}, "rules": jwt_rules(p)}


# ---------------------------------------------------------------------------------------------------
# Clusters and the bootstrap
# ---------------------------------------------------------------------------------------------------


def _grpc_cluster(name: str, host: str, port: int) -> JsonDict:
    cluster: JsonDict = {
        "name": name,
        "type": "STATIC" if _is_ip(host) else "STRICT_DNS",
        "connect_timeout": "1s",
        "lb_policy": "ROUND_ROBIN",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": T_HTTP_OPTIONS,
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        },
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _socket(host, port)}}]}],
        },
    }
    if not _is_ip(host):
        cluster["dns_lookup_family"] = "V4_PREFERRED"
    return cluster


def _self_cluster(host: str, port: int) -> JsonDict:
    return _http_cluster(SELF_JWKS_CLUSTER, host, port)


def _http_cluster(name: str, host: str, port: int) -> JsonDict:
    """A plain HTTP/1.1 upstream (the console's static server, the JWKS self-fetch)."""
    cluster: JsonDict = {
        "name": name,
        "type": "STATIC" if _is_ip(host) else "STRICT_DNS",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _socket(host, port)}}]}],
        },
    }
    if not _is_ip(host):
        cluster["dns_lookup_family"] = "V4_PREFERRED"
    return cluster


def _self_host(listen_host: str) -> str:
    """Where Envoy reaches its own listener for the JWKS fetch."""
    if listen_host in ("0.0.0.0", "", "::", "localhost"):  # noqa: S104 (a comparison, not a bind)
        return "127.0.0.1"
    return listen_host


def bootstrap(
    ds: DescriptorSet,
    *,
    listen_host: str,
    listen_port: int,
    admin_host: str,
    admin_port: int,
    upstreams: Mapping[str, tuple[str, int]],
    cors_origins: Sequence[str],
    jwks: JwksConfig,
    rate_limits: RateLimits,
    service_clusters: Mapping[str, str] | None = None,
    ops_cluster: str | None = None,
    max_downstream_connections: int = 10_000,
    console_upstream: tuple[str, int] | None = None,
) -> JsonDict:
    p = plan(ds, upstreams, service_clusters=service_clusters, ops_cluster=ops_cluster)
    descriptor_b64 = base64.b64encode(descriptor_for_envoy(ds)).decode("ascii")
    services = [s.full_name for s in p.services]
    self_host = _self_host(listen_host)

    virtual_host: JsonDict = {
        "name": "learnflow",
        "domains": ["*"],
        # Malformed requests first (they must never reach a route that forwards), then the API.
        "routes": _bad_encoding_routes(cors_origins)
        + _bad_content_type_routes(cors_origins)
        + _secret_in_url_routes(cors_origins)
        + _rest_routes(p, rate_limits, descriptor_b64, services)
        + _grpc_routes(p, rate_limits)
        + [_preflight_route(p.first_cluster)]
        + ([_console_route()] if console_upstream else [])
        + _not_found_routes(cors_origins),
    }
    if cors_origins:
        virtual_host["typed_per_filter_config"] = {F_CORS: _cors_policy(cors_origins)}

    http_filters: list[JsonDict] = [
        {"name": F_CORS, "typed_config": {"@type": T_CORS}},
        {
            "name": F_HEADER_NAMES,
            "typed_config": {"@type": T_LUA, "default_source_code": {"inline_string": HEADER_NAMES_LUA}},
        },
        {"name": F_JWT, "typed_config": _jwt_filter(p, jwks, self_host, listen_port)},
        # No rules here: allows everything; only routes with an RBACPerRoute (reflection) are checked.
        {"name": F_RBAC, "typed_config": {"@type": T_RBAC}},
        # No bucket here: only routes with a per-route LocalRateLimit are limited.
        {"name": F_RATELIMIT, "typed_config": {"@type": T_RATELIMIT, "stat_prefix": "ratelimit"}},
        # After auth and rate limiting (nothing is buffered for a request refused anyway); off on the
        # native gRPC routes (streams must not be buffered).
        {"name": F_BUFFER, "typed_config": {"@type": T_BUFFER, "max_request_bytes": MAX_REQUEST_BODY_BYTES}},
        {"name": F_TRANSCODER, "typed_config": _transcoder(services, descriptor_b64)},
        {"name": F_ROUTER, "typed_config": {"@type": T_ROUTER}},
    ]

    hcm: JsonDict = {
        "@type": T_HCM,
        "stat_prefix": "ingress",
        "codec_type": "AUTO",  # HTTP/1.1 (REST) and HTTP/2 prior knowledge (native gRPC) on one port
        "use_remote_address": True,
        "generate_request_id": True,
        "preserve_external_request_id": True,  # a client's x-request-id is kept and forwarded
        "always_set_request_id_in_response": True,
        "normalize_path": True,
        "merge_slashes": True,
        "access_log": [
            {
                "name": "envoy.access_loggers.stdout",
                "typed_config": {"@type": T_STDOUT_LOG, "log_format": {"json_format": ACCESS_LOG_FORMAT}},
            }
        ],
        "local_reply_config": local_reply_config(),
        "route_config": {"name": "learnflow", "virtual_hosts": [virtual_host]},
        "http_filters": http_filters,
    }

    clusters = [_grpc_cluster(name, *upstreams[name]) for name in sorted(upstreams)]
    if jwks.inline_jwks is None:
        clusters.append(_self_cluster(self_host, listen_port))
    if console_upstream:
        clusters.append(_http_cluster(CONSOLE_CLUSTER, *console_upstream))

    return {
        "admin": {"address": _socket(admin_host, admin_port)},
        "layered_runtime": {
            "layers": [
                # Envoy refuses regexes whose RE2 program is over 100 instructions by default; the
                # UTF-8 validity check (VALID_REQUEST_TARGET) is about 120. Still linear time.
                {
                    "name": "static",
                    "static_layer": {"re2.max_program_size.error_level": RE2_MAX_PROGRAM_SIZE},
                },
                # Runtime overrides through the admin endpoint stay possible, as without this block.
                {"name": "admin", "admin_layer": {}},
            ]
        },
        "overload_manager": {
            # An edge proxy needs a bound on open downstream connections (Envoy warns without one).
            "resource_monitors": [
                {
                    "name": "envoy.resource_monitors.global_downstream_max_connections",
                    "typed_config": {
                        "@type": T_DOWNSTREAM_CONNECTIONS,
                        "max_active_downstream_connections": max_downstream_connections,
                    },
                }
            ]
        },
        "static_resources": {
            "listeners": [
                {
                    "name": "learnflow",
                    "address": _socket(listen_host, listen_port),
                    "filter_chains": [
                        {
                            "filters": [
                                {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}
                            ]
                        }
                    ],
                }
            ],
            "clusters": clusters,
        },
    }


def context_clusters(ds: DescriptorSet) -> list[str]:
    """The cluster names a full deployment needs: one per context that owns services."""
    return sorted({context_of_package(s.package) for s in ds.services} - {"ops"})
