"""What the local provider servers keep in memory: users, received messages, faults to inject."""

from __future__ import annotations

import random
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from typing import Any

PROVIDERS = ("moodle", "zulip", "slack", "pagerduty", "email")
# Fault.after_serving: how a served call's answer is lost.
AFTER_SERVING = ("drop", "delay", "status")
KEEP = 50_000  # messages kept per provider (the oldest go first: a bench must not eat the memory)


@dataclass
class Received:
    """One message a provider accepted."""

    provider: str
    id: str  # the provider's id for it (Moodle msgid, Zulip id, a counter for the others)
    to: str
    subject: str
    text: str
    format: str
    received_at: float
    read_at: float | None = None
    # Provider details: Moodle clientmsgid, Slack webhook, PagerDuty action / dedup_key / severity,
    # email Message-ID / TLS / AUTH ...
    meta: dict[str, Any] = field(default_factory=dict)
    # The id of an earlier message with the same idempotency key (clientmsgid, Message-ID), if any.
    duplicate_of: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Fault:
    """Answer calls with `status` (and Retry-After) instead of serving them: the next `count` calls,
    and then each call with probability `fraction` (seeded, so a run is repeatable). For Moodle,
    `errorcode` answers a whole-call exception `{exception, errorcode, message}` and `errormessage`
    a 200 whose every message has `msgid: -1`. `operations` limits it to some calls (e.g. only
    Moodle's core_message_send_instant_messages); empty: every call. `then`: the fault that follows
    once this one's `count` is spent (an outage that changes shape, e.g. 503s then a 429), with no
    window in which a call could pass between them.

    `after_serving` makes it a lost answer instead of a refusal: the call is SERVED (the message
    stored, as the provider would) and then the answer never arrives whole — "drop" closes the
    connection without answering, "delay" answers only after `delay_seconds` (past the client's
    timeout), "status" answers `status` instead (a gateway's 502/504 after the provider acted). What
    a sender cannot tell from a refusal, and must not repeat blindly."""

    status: int = 503
    count: int = 0
    fraction: float = 0.0
    seed: int | None = None
    retry_after: float | None = None
    errorcode: str = ""
    errormessage: str = ""
    operations: tuple[str, ...] = ()
    then: Fault | None = None
    after_serving: str = ""  # "", "drop", "delay" or "status"
    delay_seconds: float = 30.0
    served: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)  # noqa: S311 (repeatable faults, not secrets)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Fault:
        known = {
            "status",
            "count",
            "fraction",
            "seed",
            "retry_after",
            "errorcode",
            "errormessage",
            "operations",
            "then",
            "after_serving",
            "delay_seconds",
        }
        unknown = set(body) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        fault = cls(
            status=int(body.get("status", 503)),
            count=int(body.get("count", 0)),
            fraction=float(body.get("fraction", 0.0)),
            seed=None if body.get("seed") is None else int(body["seed"]),
            retry_after=None if body.get("retry_after") is None else float(body["retry_after"]),
            errorcode=str(body.get("errorcode", "")),
            errormessage=str(body.get("errormessage", "")),
            operations=tuple(body.get("operations", ())),
            then=None if body.get("then") is None else cls.from_json(dict(body["then"])),
            after_serving=str(body.get("after_serving", "")),
            delay_seconds=float(body.get("delay_seconds", 30.0)),
        )
        if fault.after_serving and fault.after_serving not in AFTER_SERVING:
            raise ValueError(f"after_serving must be one of {', '.join(AFTER_SERVING)} (or absent)")
        if fault.after_serving and (fault.errorcode or fault.errormessage):
            raise ValueError("after_serving serves the call: it takes no errorcode or errormessage")
        if fault.errormessage and not fault.operations:
            # Only Moodle's send answers per-message errors: aim it there, or a look-up would spend it.
            fault.operations = ("core_message_send_instant_messages",)
        if not 100 <= fault.status <= 599:
            raise ValueError("status must be between 100 and 599")
        if fault.count < 0 or not 0.0 <= fault.fraction <= 1.0:
            raise ValueError("count must be ≥ 0 and fraction between 0 and 1")
        if not fault.count and not fault.fraction:
            raise ValueError("give count (the next N calls) or fraction (a share of calls), or both")
        return fault

    @property
    def spent(self) -> bool:
        return self.count == 0 and not self.fraction

    def take(self, operation: str) -> bool:
        """Whether this call fails."""
        if self.operations and operation not in self.operations:
            return False
        if self.count > 0:
            self.count -= 1
        elif not (self.fraction and self._rng.random() < self.fraction):
            return False
        self.served += 1
        return True

    def to_json(self) -> dict[str, Any]:
        found = {k: v for k, v in asdict(self).items() if not k.startswith("_") and k != "then"}
        found["then"] = self.then.to_json() if self.then is not None else None
        return found


@dataclass
class User:
    id: int
    email: str
    full_name: str
    active: bool = True

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class ProviderState:
    def __init__(self, name: str, first_user_id: int):
        self.name = name
        self.messages: deque[Received] = deque(maxlen=KEEP)
        self.by_id: dict[str, Received] = {}
        self.by_key: dict[str, str] = {}  # idempotency key → first message id
        self.users: dict[int, User] = {}
        self._next_user = first_user_id
        self._next_message = 1
        self.fault: Fault | None = None
        self.calls: Counter[str] = Counter()  # by operation
        self.failed: Counter[str] = Counter()  # faults served, by operation

    def add_user(self, email: str, full_name: str = "") -> User:
        for user in self.users.values():
            if user.email.lower() == email.lower():
                return user
        user = User(self._next_user, email, full_name or email.split("@")[0])
        self.users[user.id] = user
        self._next_user += 1
        return user

    def user_by_email(self, email: str) -> User | None:
        return next((u for u in self.users.values() if u.email.lower() == email.lower()), None)

    def next_id(self) -> str:
        found = str(self._next_message)
        self._next_message += 1
        return found

    def receive(self, message: Received, key: str = "") -> Received:
        if key:
            message.duplicate_of = self.by_key.get(key)
            self.by_key.setdefault(key, message.id)
        if len(self.messages) == self.messages.maxlen:
            self.by_id.pop(self.messages[0].id, None)
        self.messages.append(message)
        self.by_id[message.id] = message
        return message

    def mark_read(self, message_id: str, when: float | None = None) -> Received | None:
        found = self.by_id.get(message_id)
        if found is not None and found.read_at is None:
            found.read_at = when or time.time()
        return found

    def failing(self, operation: str) -> Fault | None:
        """Counts the call; the fault to answer with, if this call is to fail."""
        self.calls[operation] += 1
        if self.fault is not None and self.fault.spent and self.fault.then is not None:
            self.fault = self.fault.then
        if self.fault is not None and self.fault.take(operation):
            self.failed[operation] += 1
            return self.fault
        return None

    def reset(self) -> None:
        """Forget messages, faults and counters; users stay (they are the providers' accounts)."""
        self.messages.clear()
        self.by_id.clear()
        self.by_key.clear()
        self.fault = None
        self.calls.clear()
        self.failed.clear()

    def summary(self) -> dict[str, Any]:
        return {
            "provider": self.name,
            "received": len(self.messages),
            "read": sum(1 for m in self.messages if m.read_at is not None),
            "duplicates": sum(1 for m in self.messages if m.duplicate_of is not None),
            "calls": dict(self.calls),
            "failed": dict(self.failed),
            "fault": self.fault.to_json() if self.fault else None,
            "users": [u.to_json() for u in self.users.values()],
        }


class State:
    def __init__(self) -> None:
        # Moodle's admin is user 2 (and sends as such); Zulip's first humans follow its system bots.
        self.providers = {
            "moodle": ProviderState("moodle", 3),
            "zulip": ProviderState("zulip", 10),
            "slack": ProviderState("slack", 1),
            "pagerduty": ProviderState("pagerduty", 1),
            "email": ProviderState("email", 1),
        }
        self.incidents: dict[str, str] = {}  # PagerDuty dedup_key → triggered / acknowledged / resolved

    def __getitem__(self, provider: str) -> ProviderState:
        return self.providers[provider]
