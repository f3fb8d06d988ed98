"""The generated Envoy config and OpenAPI document, checked without traffic: Envoy's own validation,
REST/jwt/rate-limit coverage of every RPC against its AuthRule, and drift of the committed files."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec
from gateway_harness import b64url, envoy_binary
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

from gateway import descriptors, envoy
from gateway.descriptors import HttpBinding, Method, PathTemplate, PathVariable, openapi_parameter
from gateway.generate import (
    DESCRIPTOR,
    OPENAPI,
    JwksConfig,
    RateLimits,
    TokenBucket,
    expected_files,
    k8s_config,
    main,
    openapi_document,
    render,
    write_config,
)

DS = descriptors.load(DESCRIPTOR)
METHODS = [m for m in DS.methods]
BOUND = [(m, b) for m in METHODS for b in m.bindings]


def local_config(**kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = dict(
        listen_host="127.0.0.1",
        listen_port=18080,
        admin_port=19901,
        grpc_upstream=("127.0.0.1", 50051),
        cors_origins=["http://localhost:3000"],
    )
    args.update(kw)
    return render(DESCRIPTOR, **args)


def hcm(config: dict[str, Any]) -> dict[str, Any]:
    (listener,) = config["static_resources"]["listeners"]
    (chain,) = listener["filter_chains"]
    (f,) = chain["filters"]
    return dict(f["typed_config"])


def http_filter(config: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(next(f["typed_config"] for f in hcm(config)["http_filters"] if f["name"] == name))


def routes(config: dict[str, Any]) -> list[dict[str, Any]]:
    (vhost,) = hcm(config)["route_config"]["virtual_hosts"]
    return list(vhost["routes"])


# --- a small evaluator of Envoy's RouteMatch (enough for what the generator emits) -------------------------


def header_matches(m: dict[str, Any], headers: dict[str, str]) -> bool:
    value = headers.get(m["name"])
    if value is None and m.get("treat_missing_header_as_empty"):
        value = ""
    if "present_match" in m:
        result = value is not None
    elif value is None:
        result = False
    else:
        sm = m["string_match"]
        if "exact" in sm:
            result = value == sm["exact"]
        elif "prefix" in sm:
            result = value.startswith(sm["prefix"])
        else:
            result = re.fullmatch(sm["safe_regex"]["regex"], value) is not None
    return result != bool(m.get("invert_match"))


def route_matches(
    match: dict[str, Any], method: str, path: str, headers: dict[str, str] | None = None
) -> bool:
    path_only = path.split("?", 1)[0]
    if "prefix" in match:
        ok = path_only.startswith(match["prefix"])
    elif "path" in match:
        ok = path_only == match["path"]
    else:
        ok = re.fullmatch(match["safe_regex"]["regex"], path_only) is not None
    all_headers = {":method": method, ":path": path, **(headers or {})}
    return ok and all(header_matches(h, all_headers) for h in match.get("headers", []))


def first_route(
    config: dict[str, Any], method: str, path: str, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    return next(r for r in routes(config) if route_matches(r["match"], method, path, headers))


def jwt_requirement(
    config: dict[str, Any], method: str, path: str, headers: dict[str, str] | None = None
) -> Any:
    """What jwt_authn requires for a request: the first matching rule's `requires` (None: no token)."""
    rules = http_filter(config, envoy.F_JWT)["rules"]
    rule = next(r for r in rules if route_matches(r["match"], method, path, headers))
    return rule.get("requires")


def sample_path(template: str) -> str:
    tpl = PathTemplate.parse(template)
    parts = []
    for seg in tpl.segments:
        if isinstance(seg, PathVariable):
            parts.append("/".join("abc" if s in ("*", "**") else s for s in seg.segments))
        else:
            parts.append("x1" if seg == "*" else "a/b" if seg == "**" else seg)
    return "/" + "/".join(parts) + (f":{tpl.verb}" if tpl.verb else "")


# --- the inputs ---------------------------------------------------------------------------------------------


def test_descriptor_has_the_expected_services() -> None:
    names = {s.full_name for s in DS.services}
    assert {"learnflow.identity.v1.IdentityService", "learnflow.ops.v1.OperationsService"} <= names
    assert not any(n.startswith("learnflow.auth.") for n in names)
    assert "identity" in DS.contexts and "ops" not in DS.contexts


def test_every_rpc_has_an_auth_rule_and_an_http_rule() -> None:
    for m in METHODS:
        assert m.has_rule, f"{m.full_name} has no (learnflow.auth.v1.rule)"
        if m.internal:  # mesh-only (AuthRule.internal): no REST binding allowed, the edge answers 404
            assert not m.bindings, f"{m.full_name} is internal but has a google.api.http rule"
        else:
            assert m.bindings, f"{m.full_name} has no google.api.http rule: not reachable over REST"


def test_internal_rpcs_are_not_routed_from_the_edge() -> None:
    internal = [m for m in METHODS if m.internal]
    assert internal, "IssueWorkloadToken is internal"
    config = local_config()
    for m in internal:
        route = first_route(config, "POST", m.grpc_path)
        assert route.get("direct_response", {}).get("status") == 404, route


@pytest.mark.parametrize(
    ("template", "regex", "literal", "variables"),
    [
        ("/v1/users", None, "/v1/users", []),
        ("/v1/auth:login", None, "/v1/auth:login", []),
        ("/.well-known/jwks.json", None, "/.well-known/jwks.json", []),
        ("/v1/users/{user_id}", "/v1/users/[^/]+", None, ["user_id"]),
        ("/v1/users/{user.id}:disable", "/v1/users/[^/]+:disable", None, ["user.id"]),
        ("/v1/{name=tenants/*/users/*}", "/v1/tenants/[^/]+/users/[^/]+", None, ["name"]),
        ("/v1/files/{path=**}", "/v1/files/.+", None, ["path"]),
    ],
)
def test_path_templates(template: str, regex: str | None, literal: str | None, variables: list[str]) -> None:
    tpl = PathTemplate.parse(template)
    assert [v.field_path for v in tpl.variables] == variables
    if literal is not None:
        assert tpl.is_literal and tpl.literal_path() == literal
    else:
        assert not tpl.is_literal and tpl.regex() == regex
        assert re.fullmatch(tpl.regex(), sample_path(template))


# --- the Envoy config ---------------------------------------------------------------------------------------


def test_render_is_fast_and_deterministic() -> None:
    began = time.monotonic()
    first = local_config()
    elapsed = time.monotonic() - began
    assert first == local_config()
    assert elapsed < 2.0, f"render() took {elapsed:.2f}s"


def test_filter_order() -> None:
    names = [f["name"] for f in hcm(local_config())["http_filters"]]
    # RBAC after jwt_authn: it reads the verified token's payload from jwt_authn's metadata.
    assert names == [
        envoy.F_CORS,
        envoy.F_HEADER_NAMES,  # a header gRPC metadata cannot carry is refused before anything else
        envoy.F_JWT,
        envoy.F_RBAC,
        envoy.F_RATELIMIT,
        envoy.F_BUFFER,  # after the limiter: a refused request is never buffered
        envoy.F_TRANSCODER,
        envoy.F_ROUTER,
    ]


def test_transcoder_settings_and_embedded_descriptor() -> None:
    t = http_filter(local_config(), envoy.F_TRANSCODER)
    assert set(t["services"]) == {s.full_name for s in DS.services}
    assert t["convert_grpc_status"] is True and t["auto_mapping"] is False
    assert t["match_incoming_request_route"] is False
    assert t["print_options"]["always_print_primitive_fields"] is True
    assert t["print_options"]["preserve_proto_field_names"] is False
    assert t["request_validation_options"] == {
        "reject_unknown_method": True,
        "reject_unknown_query_parameters": True,
        "reject_binding_body_field_collisions": True,
    }
    embedded = descriptor_pb2.FileDescriptorSet.FromString(base64.b64decode(t["proto_descriptor_bin"]))
    original = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR.read_bytes())
    for file in original.file:  # every file, as it is but for its comments (Envoy never reads them)
        file.ClearField("source_code_info")
    assert list(embedded.file)[: len(original.file)] == list(original.file)
    assert not any(f.HasField("source_code_info") for f in embedded.file)
    names = [f.name for f in embedded.file]
    # The services' error details must be printable by convert_grpc_status.
    assert "google/rpc/error_details.proto" in names
    seen: set[str] = set()
    for f in embedded.file:
        assert set(f.dependency) <= seen, f"{f.name} comes before its imports"
        seen.add(f.name)


def test_every_http_binding_has_a_rest_route_to_its_cluster() -> None:
    config = local_config()
    clusters = envoy.plan(DS, {c: ("127.0.0.1", 1) for c in DS.contexts}).service_cluster
    for m, b in BOUND:
        route = first_route(config, b.verb, sample_path(b.template))
        assert route["name"].endswith(m.full_name), (b.verb, b.template, route["name"])
        assert route["route"]["cluster"] == clusters[m.service]
        # After the transcoder's rewrite the router re-matches on the gRPC path: same cluster.
        grpc_route = first_route(config, "POST", m.grpc_path, {"content-type": "application/grpc"})
        assert grpc_route["route"]["cluster"] == clusters[m.service], m.full_name


def test_unknown_paths_and_methods_fall_to_the_404_route() -> None:
    config = local_config()
    for method, path in [
        ("GET", "/v1/nope"),
        ("DELETE", "/v1/users"),
        ("GET", "/learnflow.x.v1.Y/Z"),
        ("GET", "/"),
    ]:
        route = first_route(config, method, path)
        assert route.get("direct_response", {}).get("status") == 404, (method, path, route["name"])
        assert route["typed_per_filter_config"][envoy.F_JWT]["disabled"] is True
        assert route["typed_per_filter_config"][envoy.F_TRANSCODER]["disabled"] is True


def test_jwt_rules_follow_the_auth_rules() -> None:
    config = local_config()
    provider = http_filter(config, envoy.F_JWT)["providers"][envoy.PROVIDER]
    assert provider["issuer"] == "learnflow" and provider["audiences"] == ["learnflow"]
    assert provider["forward"] is True
    assert provider["from_headers"] == [{"name": "Authorization", "value_prefix": "Bearer "}]
    jwks = provider["remote_jwks"]
    assert jwks["http_uri"]["uri"] == "http://127.0.0.1:18080/v1/jwks"
    assert jwks["http_uri"]["cluster"] == envoy.SELF_JWKS_CLUSTER and jwks["cache_duration"] == "60s"
    required = {"provider_name": envoy.PROVIDER}
    for m, b in BOUND:
        expected = None if m.public else required
        assert jwt_requirement(config, b.verb, sample_path(b.template)) == expected, (m.full_name, b.template)
        assert jwt_requirement(config, "POST", m.grpc_path) == expected, m.full_name
        # A public path is public for its own verb only.
        if m.public:
            other = "DELETE" if b.verb != "DELETE" else "PUT"
            assert jwt_requirement(config, other, sample_path(b.template)) == required
    assert jwt_requirement(config, "POST", "/grpc.health.v1.Health/Check") is None
    # Reflection maps the whole API: a token (and the operator role, see the RBAC test) at the edge.
    for path in [
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    ]:
        assert jwt_requirement(config, "POST", path) == required, path
    preflight = {"access-control-request-method": "POST", "origin": "http://localhost:3000"}
    assert jwt_requirement(config, "OPTIONS", "/v1/users", preflight) is None
    assert jwt_requirement(config, "OPTIONS", "/v1/users") == required  # not a preflight
    for path in ["/v1/nope", "/v1/jwks/extra", "/v1/auth:login/x", "/"]:
        assert jwt_requirement(config, "GET", path) == required, path
    # Query strings do not change the decision.
    assert jwt_requirement(config, "GET", "/v1/jwks?x=1") is None


def test_jwt_public_paths_are_exactly_the_public_rpcs() -> None:
    rules = http_filter(local_config(), envoy.F_JWT)["rules"]
    exempt = {r["match"].get("path") for r in rules if "requires" not in r and "path" in r["match"]}
    expected = {sample_path(b.template) for m, b in BOUND if m.public} | {
        m.grpc_path for m in METHODS if m.public and not m.internal
    }
    assert exempt == expected


def test_rate_limits_on_write_routes_and_login() -> None:
    config = local_config(rate_limits=RateLimits(writes=TokenBucket(200, 400), strict=TokenBucket(10, 20)))
    for _m, b in BOUND:
        route = first_route(config, b.verb, sample_path(b.template))
        limit = route.get("typed_per_filter_config", {}).get(envoy.F_RATELIMIT)
        if b.template in ("/v1/auth:login", "/v1/auth:serviceToken"):  # each guess costs an argon2id hash
            assert limit and limit["token_bucket"] == {
                "max_tokens": 20,
                "tokens_per_fill": 10,
                "fill_interval": "1s",
            }
        elif b.is_write:
            assert limit and limit["token_bucket"]["tokens_per_fill"] == 200, b.template
        else:
            assert limit is None, b.template
        if limit:
            assert limit["filter_enabled"]["default_value"]["numerator"] == 100
            assert limit["filter_enforced"]["default_value"]["numerator"] == 100
    login = next(m for m, b in BOUND if b.template == "/v1/auth:login")
    grpc_login = first_route(config, "POST", login.grpc_path)
    assert grpc_login["typed_per_filter_config"][envoy.F_RATELIMIT]["token_bucket"]["max_tokens"] == 20


def test_local_replies_are_json_except_for_native_grpc() -> None:
    mappers = hcm(local_config())["local_reply_config"]["mappers"]
    first = mappers[0]
    assert "body_format_override" not in first and "and_filter" in first["filter"]
    assert "body_format" not in hcm(local_config())["local_reply_config"]
    # Second: the transcoder's "reply too large" 500, told apart by its response code details.
    too_large = mappers[1]
    assert (
        envoy.RESPONSE_TOO_LARGE_DETAILS
        in too_large["filter"]["extension_filter"]["typed_config"]["expression"]
    )
    assert too_large["status_code"] == 502
    by_status = {
        m["filter"]["status_code_filter"]["comparison"]["value"]["default_value"]: m["body_format_override"]
        for m in mappers[2:]
        if m["filter"]["status_code_filter"]["comparison"]["op"] == "EQ"
    }
    retry_after = next(
        m["headers_to_add"]
        for m in mappers[2:]
        if m["filter"]["status_code_filter"]["comparison"]["value"]["default_value"] == 429
    )
    assert retry_after == [{"append_action": "ADD_IF_ABSENT", "header": {"key": "retry-after", "value": "1"}}]
    expected_codes = {400: 3, 401: 16, 403: 7, 404: 5, 413: 8, 429: 8, 503: 14}
    for status, code in expected_codes.items():
        body = by_status[status]
        assert body["content_type"] == "application/json"
        assert body["json_format"]["code"] == code
        assert body["json_format"]["details"][0]["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    assert mappers[-1]["filter"]["status_code_filter"]["comparison"]["op"] == "GE"


def test_request_ids_and_access_log() -> None:
    h = hcm(local_config())
    assert (
        h["generate_request_id"]
        and h["preserve_external_request_id"]
        and h["always_set_request_id_in_response"]
    )
    (log,) = h["access_log"]
    assert log["name"] == "envoy.access_loggers.stdout"
    fmt = log["typed_config"]["log_format"]["json_format"]
    assert fmt["correlation_id"] == "%REQ(X-REQUEST-ID)%"
    # No field logs a query string or a credential header (NQ: the path without its query).
    assert fmt["path"] == "%PATH(NQ:ORIG_OR_PATH)%" and fmt["grpc_path"] == "%PATH(NQ:PATH)%"
    for value in fmt.values():
        assert "%REQ(:PATH" not in value and "ORIGINAL-PATH" not in value  # %REQ(...)% keeps the query
        assert "AUTHORIZATION" not in value.upper() and "COOKIE" not in value.upper()


def test_upstreams() -> None:
    upstreams = {ctx: (f"10.0.0.{7 + i}", 6000) for i, ctx in enumerate(DS.contexts)}
    identity_host = upstreams["identity"][0]
    config = local_config(grpc_upstream=None, upstreams=upstreams)
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    assert set(clusters) == {*DS.contexts, envoy.SELF_JWKS_CLUSTER}
    address = clusters["identity"]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"][
        "address"
    ]
    assert address["socket_address"] == {"address": identity_host, "port_value": 6000}
    opts = clusters["identity"]["typed_extension_protocol_options"]
    assert (
        "http2_protocol_options"
        in opts["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]["explicit_http_config"]
    )
    # OperationsService (every process hosts it) goes to the first context cluster unless told otherwise.
    p = envoy.plan(DS, {**{ctx: ("a", 1) for ctx in DS.contexts}, "zzz": ("b", 2)})
    assert p.service_cluster["learnflow.ops.v1.OperationsService"] == next(iter(DS.contexts))
    p = envoy.plan(DS, {**{ctx: ("a", 1) for ctx in DS.contexts}, "zzz": ("b", 2)}, ops_cluster="zzz")
    assert p.service_cluster["learnflow.ops.v1.OperationsService"] == "zzz"
    with pytest.raises(ValueError, match="no upstream address"):
        render(DESCRIPTOR, upstreams={"other": ("x", 1)})
    with pytest.raises(ValueError, match="exactly one"):
        render(DESCRIPTOR)


def test_k8s_flavour() -> None:
    config = k8s_config()
    (listener,) = config["static_resources"]["listeners"]
    assert listener["address"]["socket_address"] == {"address": "0.0.0.0", "port_value": 8080}
    assert config["admin"]["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 9901}
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    for ctx in DS.contexts:
        c = clusters[ctx]
        assert c["type"] == "STRICT_DNS"
        address = c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"][
            "socket_address"
        ]
        assert address == {"address": f"{ctx}-headless", "port_value": 50051}
    jwks = clusters[envoy.SELF_JWKS_CLUSTER]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]
    assert jwks["endpoint"]["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 8080}


def _validate(path: Path) -> None:
    result = subprocess.run(
        [envoy_binary(), "--mode", "validate", "-c", str(path), "--log-level", "warn"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.mark.parametrize("flavour", ["k8s", "local", "local-inline-jwks"])
def test_envoy_validates_the_config(flavour: str, tmp_path: Path) -> None:
    if flavour == "k8s":
        config = k8s_config()
    elif flavour == "local":
        config = local_config()
    else:
        # Envoy refuses a JWKS without a usable key, so give it a real one.
        nums = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
        jwk = {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url(nums.x),
            "y": b64url(nums.y),
            "kid": "k",
            "alg": "ES256",
        }
        config = local_config(jwks=JwksConfig(inline_jwks=json.dumps({"keys": [jwk]})), cors_origins=[])
    path = tmp_path / "envoy.yaml"
    write_config(config, path)
    _validate(path)


def _with_streaming_method(tmp_path: Path) -> Path:
    """The real descriptor set plus a server-streaming RPC with a REST binding."""
    fds = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR.read_bytes())
    file = next(f for f in fds.file if any(s.name == "IdentityService" for s in f.service))
    svc = next(s for s in file.service if s.name == "IdentityService")
    method = svc.method.add(
        name="WatchJwks",
        input_type=".learnflow.identity.v1.GetJwksRequest",
        output_type=".learnflow.identity.v1.GetJwksResponse",
        server_streaming=True,
    )
    opts = descriptor_pb2.MethodOptions()
    opts.Extensions[annotations_pb2.http].get = "/v1/jwks:watch"
    method.options.ParseFromString(opts.SerializeToString())
    path = tmp_path / "descriptor.binpb"
    path.write_bytes(fds.SerializeToString())
    return path


def test_server_streaming_routes_get_sse_and_no_timeout(tmp_path: Path) -> None:
    descriptor = _with_streaming_method(tmp_path)
    config = render(
        descriptor,
        listen_host="127.0.0.1",
        listen_port=18080,
        admin_port=19901,
        grpc_upstream=("127.0.0.1", 50051),
    )
    rest = first_route(config, "GET", "/v1/jwks:watch")
    assert rest["route"]["timeout"] == "0s"
    per_route = rest["typed_per_filter_config"][envoy.F_TRANSCODER]
    assert per_route["print_options"]["stream_sse_style_delimited"] is True
    grpc_route = first_route(config, "POST", "/learnflow.identity.v1.IdentityService/WatchJwks")
    assert grpc_route["route"]["timeout"] == "0s"
    doc = openapi_document(descriptor)
    assert "text/event-stream" in doc["paths"]["/v1/jwks:watch"]["get"]["responses"]["200"]["content"]
    path = tmp_path / "envoy.yaml"
    write_config(config, path)
    _validate(path)


# --- the generated files ------------------------------------------------------------------------------------


def test_generated_files_are_up_to_date() -> None:
    stale = []
    for path, text in expected_files().items():
        if not path.exists() or path.read_text() != text:
            stale.append(str(path))
    assert not stale, (
        f"out of date with gen/descriptor.binpb: {stale}; run `make gen` (python -m gateway.generate)"
    )


def test_check_mode_reports_up_to_date() -> None:
    assert main(["--check"]) == 0


def test_committed_k8s_config_is_self_contained() -> None:
    from gateway.generate import K8S_CONFIG

    text = K8S_CONFIG.read_text()
    config = yaml.safe_load(text)
    assert http_filter(config, envoy.F_TRANSCODER)["proto_descriptor_bin"]
    assert "proto_descriptor:" not in text  # no file path: nothing to mount besides this file


# --- OpenAPI ------------------------------------------------------------------------------------------------


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _operation(doc: dict[str, Any], b: HttpBinding) -> dict[str, Any]:
    return dict(doc["paths"][b.parsed.openapi_path()][b.verb.lower()])


def test_openapi_covers_every_binding_with_the_right_security() -> None:
    doc = openapi_document()
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        **doc["components"]["securitySchemes"]["bearerAuth"],
        "type": "http",
        "scheme": "bearer",
    }
    op_ids = []
    for m, b in BOUND:
        op = _operation(doc, b)
        op_ids.append(op["operationId"])
        assert op["x-grpc-method"] == m.full_name
        assert op["security"] == ([] if m.public else [{"bearerAuth": []}])
        assert "401" in op["responses"] or m.public
        assert op["responses"]["default"] == {"$ref": "#/components/responses/Error"}
        path_params = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        assert path_params == {openapi_parameter(v.field_path) for v in b.parsed.variables}
        assert ("requestBody" in op) == bool(b.body), m.full_name
    assert len(op_ids) == len(set(op_ids)), "operationIds must be unique"


def test_openapi_request_shapes() -> None:
    doc = openapi_document()
    list_users = doc["paths"]["/v1/users"]["get"]
    assert {p["name"] for p in list_users["parameters"]} >= {"pageSize", "pageToken", "role"}
    login = doc["paths"]["/v1/auth:login"]["post"]
    assert login["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("LoginRequest")
    assert login["x-ratelimit"] == {"per_second": 10, "burst": 20}
    assert "429" in login["responses"]
    login_schema = doc["components"]["schemas"]["learnflow.identity.v1.LoginRequest"]
    assert set(login_schema["required"]) == {"tenant", "email", "password"}


def test_openapi_refs_resolve_and_schemas_are_json_schema() -> None:
    doc = openapi_document()
    for ref in _refs(doc):
        assert ref.startswith("#/")
        node: Any = doc
        for part in ref[2:].split("/"):
            assert part in node, f"unresolved {ref}"
            node = node[part]
    for name, schema in doc["components"]["schemas"].items():
        jsonschema.Draft202012Validator.check_schema(schema), name
    yaml.safe_load(yaml.safe_dump(doc))  # plain data


def test_binding_dataclass_helpers() -> None:
    b = HttpBinding("POST", "/v1/users", "user")
    assert b.is_write and not HttpBinding("GET", "/v1/users", "").is_write
    m = Method("a.b.v1.S", "M", "a.b.v1.Req", "a.b.v1.Res", False, False, (b,), False, (), True, "")
    assert m.grpc_path == "/a.b.v1.S/M"


def test_committed_openapi_document_validates_as_openapi_3() -> None:
    """The committed gateway/openapi.yaml (what clients and schemathesis read) is a valid OpenAPI
    3.1 document by the spec's own schema, not just plain YAML: a stray key (e.g. `description` on
    a media type) makes fuzzers and client generators refuse it."""
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

    validate(yaml.safe_load(OPENAPI.read_text()))
    # The validator catches exactly the mistake the fuzzer found: a media type with a description.
    broken = openapi_document()
    stream_op = next(
        op
        for ops in broken["paths"].values()
        for op in ops.values()
        if "text/event-stream" in op["responses"]["200"].get("content", {})
    )
    stream_op["responses"]["200"]["content"]["text/event-stream"]["description"] = "SSE"
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def test_reflection_route_admits_operators_only() -> None:
    from learnflow.auth.v1 import auth_pb2

    from services.runtime.authz import ROLE_NAMES

    # The RBAC rule compares the token's `roles` claim with the name the identity service writes.
    assert ROLE_NAMES[auth_pb2.ROLE_OPERATOR] == envoy.OPERATOR_ROLE
    config = local_config()
    route = first_route(config, "POST", "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo")
    rbac = route["typed_per_filter_config"][envoy.F_RBAC]["rbac"]["rules"]
    assert rbac["action"] == "ALLOW"
    (policy,) = rbac["policies"].values()
    (principal,) = policy["principals"]
    matcher = principal["sourced_metadata"]["metadata_matcher"]
    assert matcher["filter"] == envoy.F_JWT
    assert matcher["value"]["list_match"]["one_of"]["string_match"]["exact"] == "operator"
    (provider,) = http_filter(config, envoy.F_JWT)["providers"].values()
    assert provider["payload_in_metadata"] == matcher["path"][0]["key"]


def _request_leaves(message: Any, prefix: tuple[str, ...] = (), depth: int = 0) -> Any:
    from google.protobuf.descriptor import FieldDescriptor

    for f in message.fields:
        if f.type == FieldDescriptor.TYPE_MESSAGE:
            if depth < 4 and not f.message_type.full_name.startswith("google.protobuf."):
                yield from _request_leaves(f.message_type, (*prefix, f.name), depth + 1)
        else:
            yield (*prefix, f.name)


def test_no_binding_takes_a_secret_as_a_query_parameter() -> None:
    """The gateway refuses secret-named query parameters (SECRET_QUERY_TARGET). So that this never
    blocks a legitimate call, no binding may leave a secret-named field to the query string: such a
    field must be in the body (as CreateUser's password is)."""
    import importlib

    from google.protobuf import descriptor_pool

    root = Path(__file__).resolve().parents[2] / "gen" / "python"
    for module in (root / "learnflow").rglob("*_pb2.py"):
        importlib.import_module(".".join(module.relative_to(root).with_suffix("").parts))
    pool = descriptor_pool.Default()
    secret = re.compile(envoy.SECRET_NAME)
    checked = 0
    for m, b in BOUND:
        in_path = {v.field_path for v in b.parsed.variables}
        for leaf in _request_leaves(pool.FindMessageTypeByName(m.input_type)):
            if ".".join(leaf) in in_path or b.body == "*" or (b.body and leaf[0] == b.body):
                continue
            checked += 1
            for name in (leaf[-1], "".join(p.title() for p in leaf[-1].split("_"))):
                assert not secret.search(name), f"{m.full_name} {b.verb} {b.template}: ?{'.'.join(leaf)}"
    assert checked > 10  # the walk saw query parameters at all
    # And the guard itself: names, not values; any case; snake or camel.
    for target in ("/v1/users?password=x", "/v1/x?pageSize=1&adminPassword=y", "/v1/x?Refresh_Token"):
        assert re.fullmatch(envoy.SECRET_QUERY_TARGET, target), target
    for target in ("/v1/users?pageToken=password", "/v1/password/x", "/v1/users?pageSize=2&q=a%20b"):
        assert not re.fullmatch(envoy.SECRET_QUERY_TARGET, target), target
