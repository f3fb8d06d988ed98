"""What the gateway needs to know about the contracts, read from the descriptor set (gen/descriptor.binpb).

The descriptor set is the only input: every service whose package starts with `learnflow.` (except
`learnflow.auth.v1`, which only defines the `rule` option) is exposed. For each RPC we read its
`google.api.http` bindings (including additional_bindings) and its `(learnflow.auth.v1.rule)` option.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from google.api import annotations_pb2, field_behavior_pb2, http_pb2
from google.protobuf import descriptor_pb2

# Importing auth_pb2 registers the `(learnflow.auth.v1.rule)` extension in the default pool.
from learnflow.auth.v1 import auth_pb2

SERVICE_PACKAGE_PREFIX = "learnflow."
EXCLUDED_PACKAGES = frozenset({"learnflow.auth.v1"})
_CONTEXT_PACKAGE = re.compile(r"^learnflow\.(?P<context>[a-z][a-z0-9_]*)\.v\d+[a-z0-9]*$")
WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class HttpBinding:
    """One REST binding of an RPC: `verb path` plus the google.api.http body selector."""

    verb: str  # GET, POST, PUT, PATCH, DELETE or a custom kind
    template: str  # the path template as written, e.g. /v1/users/{user_id}
    body: str  # "", "*" or a top-level request field name

    @property
    def is_write(self) -> bool:
        return self.verb in WRITE_VERBS

    @cached_property
    def parsed(self) -> PathTemplate:
        return PathTemplate.parse(self.template)


@dataclass(frozen=True)
class Method:
    service: str  # full service name, e.g. learnflow.identity.v1.IdentityService
    name: str  # e.g. Login
    input_type: str  # full message name without the leading dot
    output_type: str
    client_streaming: bool
    server_streaming: bool
    bindings: tuple[HttpBinding, ...]
    public: bool
    roles: tuple[str, ...]  # Role enum value names, e.g. ("ROLE_ADMIN",)
    has_rule: bool
    comment: str
    # AuthRule.internal: callable inside the mesh only; the gateway answers 404 for it.
    internal: bool = False

    @property
    def grpc_path(self) -> str:
        return f"/{self.service}/{self.name}"

    @property
    def full_name(self) -> str:
        return f"{self.service}.{self.name}"


@dataclass(frozen=True)
class Service:
    full_name: str
    package: str
    methods: tuple[Method, ...]
    comment: str

    @property
    def short_name(self) -> str:
        return self.full_name.rsplit(".", 1)[-1]


def context_of_package(package: str) -> str:
    """`learnflow.<context>.v1` -> `<context>` (the upstream cluster name)."""
    m = _CONTEXT_PACKAGE.match(package)
    if not m:
        raise ValueError(f"package {package!r} is not of the form learnflow.<context>.v<N>")
    return m.group("context")


# ---------------------------------------------------------------------------------------------------
# Path templates (https://github.com/googleapis/googleapis/blob/master/google/api/http.proto)
#   Template = "/" Segments [ Verb ] ;  Segment = "*" | "**" | LITERAL | Variable ;
#   Variable = "{" FieldPath [ "=" Segments ] "}" ;  Verb = ":" LITERAL ;
# ---------------------------------------------------------------------------------------------------

_RE2_SPECIAL = set(".^$*+?()[]{}|\\")


def re2_escape(text: str) -> str:
    return "".join("\\" + c if c in _RE2_SPECIAL else c for c in text)


def _segment_regex(segment: str) -> str:
    if segment == "*":
        return "[^/]+"
    if segment == "**":
        return ".+"
    return re2_escape(segment)


def openapi_parameter(field_path: str) -> str:
    """The OpenAPI name of a path variable bound to `field_path` (`user.id` -> `user_id`)."""
    return field_path.replace(".", "_")


@dataclass(frozen=True)
class PathVariable:
    field_path: str  # e.g. "user.id"
    segments: tuple[str, ...]  # the pattern, ("*",) when not given


@dataclass(frozen=True)
class PathTemplate:
    # Each segment is either a literal/wildcard string or a PathVariable.
    segments: tuple[str | PathVariable, ...]
    verb: str  # custom verb without the colon, "" if none

    @classmethod
    def parse(cls, template: str) -> PathTemplate:
        if not template.startswith("/"):
            raise ValueError(f"path template must start with '/': {template!r}")
        segments: list[str | PathVariable] = []
        verb = ""
        i, n = 1, len(template)
        current = ""
        while i < n:
            c = template[i]
            if c == "{":
                end = template.index("}", i)
                inner = template[i + 1 : end]
                name, _, pattern = inner.partition("=")
                segments.append(PathVariable(name, tuple(pattern.split("/")) if pattern else ("*",)))
                i = end + 1
                continue
            if c == "/":
                if current:
                    segments.append(current)
                current = ""
            elif c == ":" and "/" not in template[i:] and "{" not in template[i:]:
                verb = template[i + 1 :]
                break
            else:
                current += c
            i += 1
        if current:
            segments.append(current)
        return cls(tuple(segments), verb)

    @property
    def variables(self) -> tuple[PathVariable, ...]:
        return tuple(s for s in self.segments if isinstance(s, PathVariable))

    @property
    def is_literal(self) -> bool:
        return all(isinstance(s, str) and s not in ("*", "**") for s in self.segments)

    def literal_path(self) -> str:
        if not self.is_literal:
            raise ValueError("template has variables or wildcards")
        return "/" + "/".join(str(s) for s in self.segments) + (f":{self.verb}" if self.verb else "")

    def regex(self) -> str:
        """An RE2 regex that matches the whole path (Envoy's safe_regex is a full match)."""
        parts: list[str] = []
        for seg in self.segments:
            if isinstance(seg, PathVariable):
                parts.append("/".join(_segment_regex(s) for s in seg.segments))
            else:
                parts.append(_segment_regex(seg))
        out = "/" + "/".join(parts)
        if self.verb:
            out += ":" + re2_escape(self.verb)
        return out

    def openapi_path(self) -> str:
        """`/v1/{name=shelves/*}/books` -> `/v1/{name}/books` (OpenAPI has no multi-segment parameters).
        A nested field's variable is named with `_` (`{user.id}` -> `{user_id}`): OpenAPI tooling reads
        a dot in a parameter name as attribute access, and `/v1/users/{user_id}` is then one path for
        GetUser and UpdateUser, as OpenAPI requires of paths that differ only in a parameter's name."""
        parts = [
            f"{{{openapi_parameter(s.field_path)}}}" if isinstance(s, PathVariable) else s
            for s in self.segments
        ]
        return "/" + "/".join(parts) + (f":{self.verb}" if self.verb else "")


# ---------------------------------------------------------------------------------------------------
# The descriptor set
# ---------------------------------------------------------------------------------------------------


def _http_bindings(rule: http_pb2.HttpRule) -> Iterator[HttpBinding]:
    kind = rule.WhichOneof("pattern")
    if kind is not None:
        if kind == "custom":
            yield HttpBinding(rule.custom.kind.upper(), rule.custom.path, rule.body)
        else:
            yield HttpBinding(kind.upper(), getattr(rule, kind), rule.body)
    for extra in rule.additional_bindings:
        yield from _http_bindings(extra)


def _clean_comment(text: str) -> str:
    """Proto comment lines (`// text` leaves ` text`) -> lines stripped, paragraphs kept."""
    return "\n".join(line.strip() for line in text.strip().splitlines())


def _comments(file: descriptor_pb2.FileDescriptorProto) -> dict[tuple[int, ...], str]:
    return {
        tuple(loc.path): _clean_comment(loc.leading_comments)
        for loc in file.source_code_info.location
        if loc.leading_comments.strip()
    }


@dataclass
class DescriptorSet:
    """The parsed descriptor set plus indexes the generators need."""

    raw: bytes
    fds: descriptor_pb2.FileDescriptorSet
    services: tuple[Service, ...]
    messages: dict[str, descriptor_pb2.DescriptorProto] = field(repr=False)
    enums: dict[str, descriptor_pb2.EnumDescriptorProto] = field(repr=False)
    comments: dict[str, str] = field(repr=False)  # full name (message, field, enum) -> leading comment

    @property
    def methods(self) -> tuple[Method, ...]:
        return tuple(m for s in self.services for m in s.methods)

    @property
    def contexts(self) -> list[str]:
        """Contexts that own services (sorted); `ops` is hosted by every process and is not one."""
        return sorted({context_of_package(s.package) for s in self.services} - {"ops"})

    @property
    def file_names(self) -> set[str]:
        return {f.name for f in self.fds.file}


def _index_messages(
    prefix: str,
    messages: list[descriptor_pb2.DescriptorProto],
    path: tuple[int, ...],
    comments: dict[tuple[int, ...], str],
    out_messages: dict[str, descriptor_pb2.DescriptorProto],
    out_enums: dict[str, descriptor_pb2.EnumDescriptorProto],
    out_comments: dict[str, str],
) -> None:
    for i, msg in enumerate(messages):
        name = f"{prefix}.{msg.name}" if prefix else msg.name
        mpath = (*path, i)
        out_messages[name] = msg
        if mpath in comments:
            out_comments[name] = comments[mpath]
        for j, fld in enumerate(msg.field):
            fpath = (*mpath, 2, j)  # DescriptorProto.field = 2
            if fpath in comments:
                out_comments[f"{name}.{fld.name}"] = comments[fpath]
        for j, enum in enumerate(msg.enum_type):
            out_enums[f"{name}.{enum.name}"] = enum
            if (*mpath, 4, j) in comments:  # DescriptorProto.enum_type = 4
                out_comments[f"{name}.{enum.name}"] = comments[(*mpath, 4, j)]
        _index_messages(
            name, list(msg.nested_type), (*mpath, 3), comments, out_messages, out_enums, out_comments
        )


def load(descriptor_path: Path) -> DescriptorSet:
    raw = Path(descriptor_path).read_bytes()
    return parse(raw)


def parse(raw: bytes) -> DescriptorSet:
    fds = descriptor_pb2.FileDescriptorSet.FromString(raw)
    services: list[Service] = []
    messages: dict[str, descriptor_pb2.DescriptorProto] = {}
    enums: dict[str, descriptor_pb2.EnumDescriptorProto] = {}
    all_comments: dict[str, str] = {}
    role_names = {v.number: v.name for v in auth_pb2.Role.DESCRIPTOR.values}
    for file in fds.file:
        comments = _comments(file)
        _index_messages(file.package, list(file.message_type), (4,), comments, messages, enums, all_comments)
        for j, enum in enumerate(file.enum_type):
            name = f"{file.package}.{enum.name}"
            enums[name] = enum
            if (5, j) in comments:
                all_comments[name] = comments[(5, j)]
        if not file.package.startswith(SERVICE_PACKAGE_PREFIX) or file.package in EXCLUDED_PACKAGES:
            continue
        for si, svc in enumerate(file.service):
            full = f"{file.package}.{svc.name}"
            methods: list[Method] = []
            for mi, m in enumerate(svc.method):
                # Re-parse the options so the extensions registered in this process are decoded.
                opts = descriptor_pb2.MethodOptions.FromString(m.options.SerializeToString())
                has_rule = opts.HasExtension(auth_pb2.rule)
                rule = opts.Extensions[auth_pb2.rule]
                bindings = (
                    tuple(_http_bindings(opts.Extensions[annotations_pb2.http]))
                    if opts.HasExtension(annotations_pb2.http)
                    else ()
                )
                methods.append(
                    Method(
                        service=full,
                        name=m.name,
                        input_type=m.input_type.lstrip("."),
                        output_type=m.output_type.lstrip("."),
                        client_streaming=m.client_streaming,
                        server_streaming=m.server_streaming,
                        bindings=bindings,
                        public=bool(rule.public),
                        roles=tuple(role_names.get(r, str(r)) for r in rule.roles),
                        has_rule=has_rule,
                        comment=comments.get((6, si, 2, mi), ""),
                        internal=bool(rule.internal),
                    )
                )
            services.append(Service(full, file.package, tuple(methods), comments.get((6, si), "")))
    return DescriptorSet(raw, fds, tuple(services), messages, enums, all_comments)


def field_behaviors(fld: descriptor_pb2.FieldDescriptorProto) -> set[str]:
    """google.api.field_behavior values of a field, e.g. {"REQUIRED"}."""
    if not fld.HasField("options"):
        return set()
    opts = descriptor_pb2.FieldOptions.FromString(fld.options.SerializeToString())
    values = opts.Extensions[field_behavior_pb2.field_behavior]
    return {field_behavior_pb2.FieldBehavior.Name(v) for v in values}
