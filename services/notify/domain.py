"""notify's domain: deliveries, templates, quiet hours and the rules about them. Pure logic: no gRPC,
SQLAlchemy or NATS here (tests/contracts/test_architecture.py holds it to that)."""

from __future__ import annotations

import functools
import re
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import jinja2
from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from services.notify import template_rules
from services.notify.channels.base import BodyFormat, Urgency
from services.runtime.errors import FieldViolation, InvalidArgument, Violations
from services.runtime.zones import zone_named

Status = Literal["pending", "sent", "failed", "retrying", "read", "deferred", "digested"]
STATUSES: tuple[Status, ...] = ("pending", "sent", "failed", "retrying", "read", "deferred", "digested")
URGENCIES: tuple[Urgency, ...] = ("low", "normal", "high", "critical")
# The engine's own channel: messages stored here, listed and marked read through the API.
IN_APP = "in_app"
# Webhook-like channels whose address is a destination of its own (a Slack webhook, a PagerDuty
# routing key): their rate limit is kept per address; the others share one bucket per channel (one
# Moodle, one Zulip realm, one SMTP relay per deployment).
PER_ADDRESS_LIMIT = frozenset({"slack", "pagerduty"})
TEMPLATE_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
MAX_SUBJECT = 1000
MAX_BODY = 100_000  # a template's body; the longest message any channel takes (email)
# What a render may come to before escaping (template_rules.py bounds it by the text and the
# variables it prints): ten times the longest message a channel takes, so a preview still shows
# an oversize body with its length.
MAX_RENDERED = 1_000_000
MAX_NOTES = 100  # a delivery's notes beyond this keep only the newest (a limit hit all day long)


@dataclass(frozen=True)
class Note:
    """Why something happened to a delivery (deferred, fallback, retry, escalated, digested, ...)."""

    kind: str
    reason: str
    at: datetime

    def as_json(self) -> dict[str, str]:
        return {"kind": self.kind, "reason": self.reason, "at": self.at.isoformat()}


@dataclass(frozen=True)
class Escalation:
    after_minutes: int
    channels: tuple[str, ...]

    def next(self) -> tuple[str, Escalation | None]:
        """The channel to escalate to, and what escalation the escalated delivery carries on."""
        rest = self.channels[1:]
        return self.channels[0], Escalation(self.after_minutes, rest) if rest else None


@dataclass(frozen=True)
class Delivery:
    id: uuid.UUID
    tenant_id: uuid.UUID
    channel: str
    requested_channel: str
    recipient_id: str  # "" for platform messages to a fixed target
    address: str  # "" until resolved
    template: str  # "" for pre-rendered messages
    template_version: int
    variables: Mapping[str, str]
    subject: str
    body: str
    urgency: Urgency
    status: Status
    attempts: int = 0
    last_error: str = ""
    provider_message_id: str = ""
    idempotency_key: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)
    escalation: Escalation | None = None
    escalated_from: uuid.UUID | None = None
    digest_id: uuid.UUID | None = None
    created_by: str = ""
    notes: tuple[Note, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None
    sent_at: datetime | None = None
    read_at: datetime | None = None
    next_attempt_at: datetime | None = None
    # A send in flight: the attempt that claimed it (committed before the provider call) and until
    # when; None when no send is in flight (service.py, "claims").
    claim_id: uuid.UUID | None = None
    claimed_until: datetime | None = None


@dataclass(frozen=True)
class Template:
    tenant_id: uuid.UUID
    name: str
    version: int
    subject: str
    body: str
    created_by: str = ""
    created_at: datetime | None = None


@dataclass(frozen=True)
class QuietHours:
    user_id: str
    start: time
    end: time
    time_zone: str  # IANA; "" = the user's zone in identity, else UTC
    enabled: bool = True


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    body_format: BodyFormat


# --- templates ---------------------------------------------------------------------------------


def check_template(v: Violations, name: str, subject: str, body: str, path: str) -> None:
    if not TEMPLATE_NAME.match(name):
        v.add(f"{path}.name", "must be 1-100 of a-z, 0-9, '.', '_', '-', starting with a letter or digit")
    if len(subject) > MAX_SUBJECT:
        v.add(f"{path}.subject", f"must be at most {MAX_SUBJECT} characters")
    if not body.strip():
        v.add(f"{path}.body", "is required")
    parts: list[tuple[str, str, tuple[bool, ...]]] = [("subject", subject, (False,))]
    if len(body) > MAX_BODY:  # not parsed: its length alone refuses it
        v.add(f"{path}.body", f"must be at most {MAX_BODY:,} characters (the most any channel takes)")
    else:
        parts.append(("body", body, (False, True)))
    # Parsed, checked against the allowlist, then compiled in every form it is rendered in (the body
    # is autoescaped for HTML channels): a template must fail here, as a field violation, rather than
    # when a message is sent.
    for part, source, forms in parts:
        try:
            for autoescape in forms:
                _compiled(source, autoescape)
        except TemplateSyntaxError as exc:
            v.add(f"{path}.{part}", f"is not a valid template: {exc.message} (line {exc.lineno})")
        except TemplateRefused as exc:
            v.add(f"{path}.{part}", str(exc))
        except (RecursionError, SyntaxError, MemoryError):
            # Jinja parses recursively (some 70 nested parentheses exhaust Python's recursion limit)
            # and compiles to Python, which refuses about 100 nested blocks.
            v.add(
                f"{path}.{part}",
                "is nested too deeply to be a template: use fewer nested parentheses "
                "or {% if %} blocks inside one another",
            )


class TemplateRefused(Exception):
    """The template uses something a message template may not (template_rules.py)."""


def _env(*, autoescape: bool) -> SandboxedEnvironment:
    # Sandboxed: a template is tenant input, so it may not reach attributes such as __class__ or call
    # unsafe methods. StrictUndefined: a variable the sender did not give is an error, never "".
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=autoescape, keep_trailing_newline=False)


_ENVS = {True: _env(autoescape=True), False: _env(autoescape=False)}


@dataclass(frozen=True)
class _Compiled:
    template: jinja2.Template
    uses: Counter[str]  # how many times the template names each variable


@functools.lru_cache(maxsize=1024)
def _compiled(source: str, autoescape: bool) -> _Compiled:
    """Parsed, checked against the allowlist before anything is compiled (Jinja evaluates constant
    expressions while compiling: `'x' * 10**9` would be built there), then compiled. Parsing and
    compiling cost about a millisecond; a template's versions never change, so the compiled form is
    kept by its source."""
    env = _ENVS[autoescape]
    try:
        tree = env.parse(source)
    except ValueError:  # an integer literal of more than 4,300 digits
        raise TemplateRefused(
            "uses a number of more than 4,300 digits, which a message template may not "
            f"(numbers may be at most {template_rules.MAX_NUMBER:,} either way)"
        ) from None
    found = template_rules.examine(tree)
    if found.refused:
        raise TemplateRefused(found.explain())
    return _Compiled(env.from_string(tree), found.uses)


def render(
    template: Template,
    variables: Mapping[str, str],
    *,
    body_format: BodyFormat,
    max_length: int,
    path: str = "",
) -> Rendered:
    """The template rendered for a channel: every variable required, values HTML-escaped for HTML
    channels (a student's name cannot inject a <script> into Moodle), the body within the channel's
    limit. Failures are INVALID_ARGUMENT naming the field (`<path>variables`, `<path>template`)."""
    prefix = f"{path}." if path else ""
    v = Violations()
    subject = body = ""
    name = f"template {template.name} v{template.version}"
    try:
        # The subject is never HTML (a Moodle subject, an email Subject header, a Zulip topic).
        forms = (_compiled(template.subject, False), _compiled(template.body, body_format == "html"))
    except TemplateRefused as exc:  # saved before the allowlist: refused now rather than rendered
        raise InvalidArgument(
            "the message cannot be rendered", [FieldViolation(f"{prefix}template", f"{name} {exc}")]
        ) from None
    except Exception as exc:  # e.g. nested too deeply, saved before that was checked
        raise InvalidArgument(
            "the message cannot be rendered",
            [FieldViolation(f"{prefix}template", f"{name} failed to compile: {type(exc).__name__}: {exc}")],
        ) from None
    _check_render_size(name, template, forms, variables, prefix)
    try:
        subject = forms[0].template.render(**variables).strip()
        body = forms[1].template.render(**variables).strip()
    except UndefinedError as exc:
        v.add(f"{prefix}variables", f"{name} needs {_missing(exc)}")
    except SecurityError as exc:
        v.add(f"{prefix}template", f"template {template.name} does something not allowed: {exc}")
    except Exception as exc:  # a filter given the wrong type, a comparison of text with a number...
        v.add(f"{prefix}template", f"template {template.name} failed to render: {type(exc).__name__}: {exc}")
    v.raise_if_any("the message cannot be rendered")
    check_length(body, max_length, f"{prefix}variables")
    return Rendered(" ".join(subject.split())[:MAX_SUBJECT], body, body_format)


def _check_render_size(
    name: str,
    template: Template,
    forms: tuple[_Compiled, _Compiled],
    variables: Mapping[str, str],
    prefix: str,
) -> None:
    """Refuses, before rendering, a message that could grow past MAX_RENDERED: what the allowlist
    lets through renders at most 5 x (the text + each variable's value once per use), but a template
    that names a long variable many times would still build all of it before its length is checked."""
    size = len(template.subject) + len(template.body)
    for form in forms:
        size += sum(count * len(variables.get(name, "")) for name, count in form.uses.items())
    if size > MAX_RENDERED:
        raise InvalidArgument(
            "the message is too long to render",
            [
                FieldViolation(
                    f"{prefix}variables",
                    f"{name} with these variables comes to "
                    f"{size:,} characters (each variable counted every time it is used); "
                    f"at most {MAX_RENDERED:,} are rendered",
                )
            ],
            reason="MESSAGE_TOO_LONG",
        )


def _missing(exc: UndefinedError) -> str:
    found = re.search(r"'([^']+)' is undefined", str(exc.message or ""))
    return f"the variable {found.group(1)!r}" if found else str(exc.message)


def check_length(body: str, max_length: int, field_path: str) -> None:
    if len(body) > max_length:
        raise InvalidArgument(
            "the message is too long for its channel",
            [
                FieldViolation(
                    field_path,
                    f"the rendered message has {len(body)} characters; the channel takes {max_length}",
                )
            ],
            reason="MESSAGE_TOO_LONG",
        )


def adapt_body(body: str, source: BodyFormat, target: BodyFormat) -> str:
    """A pre-rendered body moved to a channel of another format (a fallback): text into HTML is
    escaped; HTML into text keeps its markup as text rather than guess."""
    if target == "html" and source != "html":
        from markupsafe import escape

        return str(escape(body)).replace("\n", "<br>\n")
    return body


# --- quiet hours -------------------------------------------------------------------------------


def zone(name: str) -> ZoneInfo:
    return zone_named(name) or ZoneInfo("UTC")


def valid_zone(name: str) -> bool:
    return zone_named(name) is not None


def quiet_until(hours: QuietHours | None, fallback_zone: str, now: datetime) -> datetime | None:
    """When the recipient's quiet window that `now` falls in ends (aware, UTC), or None when `now`
    is outside it. A window crossing midnight (22:00-07:00) is the evening of one day and the morning
    of the next; start == end means no window."""
    if hours is None or not hours.enabled or hours.start == hours.end:
        return None
    tz = zone(hours.time_zone or fallback_zone)
    local = now.astimezone(tz)
    t = local.time().replace(tzinfo=None)
    if hours.start < hours.end:
        inside = hours.start <= t < hours.end
        end_day = local.date()
    else:
        inside = t >= hours.start or t < hours.end
        end_day = local.date() + timedelta(days=1) if t >= hours.start else local.date()
    if not inside:
        return None
    end = datetime.combine(end_day, hours.end, tzinfo=tz)
    return end.astimezone(now.tzinfo) if now.tzinfo else end


def parse_hhmm(value: str) -> time:
    hour, minute = value.split(":")
    return time(int(hour), int(minute))


# --- digests -----------------------------------------------------------------------------------


def digest(held: list[Delivery], body_format: BodyFormat, max_length: int) -> tuple[str, str, int]:
    """One message for what quiet hours held, oldest first: (subject, body, how many fit). What does
    not fit within the channel's limit is left for a second digest rather than cut mid-message."""
    separator = "\n<hr>\n" if body_format == "html" else "\n\n---\n\n"
    parts: list[str] = []
    used = 0
    for d in held:
        if body_format == "html":
            from markupsafe import escape

            part = f"<p><strong>{escape(d.subject)}</strong></p>\n{d.body}" if d.subject else d.body
        else:
            part = f"{d.subject}\n\n{d.body}" if d.subject else d.body
        extra = len(part) + (len(separator) if parts else 0)
        if parts and used + extra > max_length:
            break
        parts.append(part)
        used += extra
    count = len(parts)
    subject = f"{count} messages held during your quiet hours" if count > 1 else held[0].subject
    return subject, separator.join(parts)[:max_length], count


# --- retries -----------------------------------------------------------------------------------


def retry_delay(attempt: int, base: float, cap: float, retry_after: float | None, jitter: float) -> float:
    """Seconds until the next attempt after failed attempt `attempt` (1-based): exponential with full
    jitter (`jitter` in [0, 1)), and never earlier than the provider's Retry-After."""
    ceiling = min(cap, base * 2 ** min(max(attempt - 1, 0), 30))
    delay = jitter * ceiling
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def add_note(notes: tuple[Note, ...], note: Note) -> tuple[Note, ...]:
    return (*notes, note)[-MAX_NOTES:]


def notes_from_json(raw: Any) -> tuple[Note, ...]:
    return tuple(Note(n["kind"], n["reason"], datetime.fromisoformat(n["at"])) for n in raw or ())


@dataclass(frozen=True)
class MessageRequest:
    """One SendMessage: a template rendered with variables, for one user, on one channel."""

    channel: str
    recipient_id: str
    template: str
    template_version: int = 0
    variables: Mapping[str, str] = field(default_factory=dict)
    urgency: Urgency = "normal"
    idempotency_key: str = ""
    escalation: Escalation | None = None


@dataclass(frozen=True)
class DeliveryFilter:
    status: Status | None = None
    channel: str = ""
    recipient_id: str = ""
    since: datetime | None = None
    until: datetime | None = None
    platform: bool = False  # the platform's own messages (operators only)
