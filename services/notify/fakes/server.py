"""The local provider servers: one aiohttp application (Moodle, Zulip, Slack, PagerDuty by path, the
inbox page and the JSON API) and one aiosmtpd SMTP server, in one event loop, sharing one State.

Paths on the HTTP port:
  /moodle/webservice/rest/server.php     Moodle web services (form-encoded, wstoken)
  /zulip/api/v1/...                      Zulip (HTTP Basic: the bot's email and API key)
  /slack/<anything>                      Slack incoming webhooks (each path its own webhook)
  /pagerduty/v2/enqueue                  PagerDuty Events API v2
  /                                      the inbox page
  /_api/...                              the JSON API (see `api_routes`)
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
import re
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp import BasicAuth, web
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from services.notify.fakes import page
from services.notify.fakes.state import PROVIDERS, Fault, ProviderState, Received, State

# aiosmtpd itself sets its deprecated Session.login_data on every successful AUTH.
warnings.filterwarnings("ignore", message="Session.login_data is deprecated")

MOODLE_ADMIN_ID = 2
ZULIP_BOT_ID = 8
SLACK_REASONS = {
    400: "invalid_payload",
    403: "action_prohibited",
    404: "channel_not_found",
    410: "channel_is_archived",
    429: "rate_limited",
    500: "rollup_error",
}
_MOODLE_MESSAGE_FIELD = re.compile(r"^messages\[(\d+)\]\[(\w+)\]$")


@dataclass
class FakesConfig:
    host: str = "127.0.0.1"
    http_port: int = 0  # 0: any free port (FakeProviders.http_url says which)
    smtp_port: int = 0
    moodle_token: str = "fake-moodle-token"
    zulip_bot_email: str = "notify-bot@zulip.local"
    zulip_api_key: str = "fake-zulip-api-key"
    pagerduty_routing_key: str = ""  # empty: any non-empty key is accepted
    smtp_tls_dir: Path | None = None  # a folder for a self-signed certificate: STARTTLS offered
    smtp_require_starttls: bool = False
    smtp_username: str = ""  # with smtp_password: AUTH offered and required
    smtp_password: str = ""
    # People with an account on Moodle and Zulip from the start, e.g. the demo tenant's users.
    users: tuple[str, ...] = ()
    latency_seconds: float = 0.0  # added to every HTTP answer (benches)


@dataclass
class FakeProviders:
    config: FakesConfig = field(default_factory=FakesConfig)
    state: State = field(default_factory=State)
    http_port: int = 0
    smtp_port: int = 0
    _runner: web.AppRunner | None = None
    _smtp: asyncio.AbstractServer | None = None

    def __post_init__(self) -> None:
        for address in self.config.users:
            for provider in ("moodle", "zulip"):
                self.state[provider].add_user(address)

    @property
    def http_url(self) -> str:
        return f"http://{self.config.host}:{self.http_port}"

    @property
    def ca_file(self) -> Path | None:
        """The certificate the SMTP server presents (clients trust it as their CA), if STARTTLS is on."""
        return self.config.smtp_tls_dir / "smtp-cert.pem" if self.config.smtp_tls_dir else None

    # --- the settings that point notify's channels here ---------------------------------------------

    def channel_env(self) -> dict[str, str]:
        c = self.config
        env = {
            "NOTIFY_MOODLE_URL": f"{self.http_url}/moodle",
            "NOTIFY_MOODLE_TOKEN": c.moodle_token,
            "NOTIFY_ZULIP_URL": f"{self.http_url}/zulip",
            "NOTIFY_ZULIP_BOT_EMAIL": c.zulip_bot_email,
            "NOTIFY_ZULIP_API_KEY": c.zulip_api_key,
            "NOTIFY_SLACK_WEBHOOK_URL": f"{self.http_url}/slack/services/T0LOCAL/B0LOCAL/local-webhook",
            "NOTIFY_PAGERDUTY_EVENTS_URL": f"{self.http_url}/pagerduty",
            "NOTIFY_PAGERDUTY_ROUTING_KEY": c.pagerduty_routing_key or "local0routing0key0000000000000000",
            "NOTIFY_SMTP_HOST": c.host,
            "NOTIFY_SMTP_PORT": str(self.smtp_port),
            "NOTIFY_SMTP_STARTTLS": "true" if c.smtp_tls_dir else "false",
            "NOTIFY_SMTP_CA_FILE": str(self.ca_file or ""),
            "NOTIFY_SMTP_USERNAME": c.smtp_username,
            "NOTIFY_SMTP_PASSWORD": c.smtp_password,
        }
        return env

    # --- lifecycle ---------------------------------------------------------------------------------------

    async def start(self) -> None:
        c = self.config
        app = web.Application(client_max_size=1024**2, middlewares=[_lose_answers])
        app.add_routes(self.routes())
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, c.host, c.http_port)
        await site.start()
        self.http_port = int(self._runner.addresses[0][1])
        tls = None
        if c.smtp_tls_dir is not None:
            from services.notify.fakes.tls import server_context

            tls = server_context(c.smtp_tls_dir, c.host)
        auth = bool(c.smtp_username)
        factory = partial(
            SMTP,
            SmtpHandler(self.state["email"]),
            hostname="fakes.learnflow.local",  # not socket.getfqdn(): slow on some hosts
            tls_context=tls,
            require_starttls=c.smtp_require_starttls and tls is not None,
            auth_required=auth,
            auth_require_tls=auth and tls is not None,
            authenticator=self._authenticate if auth else None,
        )
        loop = asyncio.get_running_loop()
        self._smtp = await loop.create_server(factory, c.host, c.smtp_port)
        self.smtp_port = int(self._smtp.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
            await self._smtp.wait_closed()
        if self._runner is not None:
            await self._runner.cleanup()

    @classmethod
    @contextlib.contextmanager
    def running(cls, config: FakesConfig | None = None) -> Iterator[FakeProviders]:
        """The servers in a thread of their own (their own event loop), for tests and tools that talk
        to them synchronously or from another loop. Stopped when the block ends."""
        fakes = cls(config or FakesConfig())
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(fakes.start())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(fakes.stop())
            loop.close()

        thread = threading.Thread(target=serve, name="notify-fakes", daemon=True)
        thread.start()
        ready.wait(30)
        if failure:
            raise failure[0]
        try:
            yield fakes
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(30)

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        c = self.config
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == c.smtp_username
            and auth_data.password.decode() == c.smtp_password
        )
        return AuthResult(success=ok, handled=False)

    # --- routes ---------------------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/moodle/webservice/rest/server.php", self.moodle),
            web.post("/zulip/api/v1/messages", self.zulip_send),
            web.get("/zulip/api/v1/users/{email}", self.zulip_user),
            web.get("/zulip/api/v1/messages/{id}/read_receipts", self.zulip_receipts),
            web.post("/slack/{hook:.+}", self.slack),
            web.post("/pagerduty/v2/enqueue", self.pagerduty),
            web.get("/", self.inbox_page),
            web.post("/_page/read", self.page_mark_read),
            *self.api_routes(),
        ]

    def api_routes(self) -> list[web.RouteDef]:
        """The JSON API:
        GET    /_api/messages[?provider=]             what every (or one) provider received
        GET    /_api/state                            per provider: counts, calls, faults, users
        POST   /_api/reset                            forget messages, faults and counters
        POST   /_api/{provider}/users                 {email, full_name} → the account (id)
        POST   /_api/{provider}/messages/{id}/read    the recipient read it (read receipts)
        PUT    /_api/{provider}/fault                 inject a fault (state.Fault's fields)
        DELETE /_api/{provider}/fault                 stop injecting
        """
        return [
            web.get("/_api/messages", self.api_messages),
            web.get("/_api/state", self.api_state),
            web.post("/_api/reset", self.api_reset),
            web.post("/_api/{provider}/users", self.api_add_user),
            web.post("/_api/{provider}/messages/{id}/read", self.api_mark_read),
            web.put("/_api/{provider}/fault", self.api_set_fault),
            web.delete("/_api/{provider}/fault", self.api_clear_fault),
        ]

    async def _latency(self) -> None:
        if self.config.latency_seconds:
            await asyncio.sleep(self.config.latency_seconds)

    # --- Moodle -------------------------------------------------------------------------------------

    async def moodle(self, request: web.Request) -> web.Response:
        await self._latency()
        s = self.state["moodle"]
        form = await request.post()
        function = str(form.get("wsfunction", ""))
        fault = _refusal(request, s.failing(function))
        if fault is not None and not fault.errormessage:
            if fault.errorcode:
                return _moodle_exception(fault.errorcode, f"fault injected: {fault.errorcode}", fault.status)
            return _fault_response(fault, text="<html><body>Service unavailable</body></html>")
        if form.get("moodlewsrestformat") != "json":
            return _moodle_exception("invalidparameter", "only moodlewsrestformat=json is served here")
        if form.get("wstoken") != self.config.moodle_token:
            return _moodle_exception("invalidtoken", "Invalid token - token not found")
        if function == "core_message_send_instant_messages":
            return web.json_response(self._moodle_send(s, form, fault))
        if function == "core_user_get_users_by_field":
            return web.json_response(_moodle_users(s, form))
        if function == "core_message_get_messages":
            return web.json_response(_moodle_messages(s, form))
        if function == "core_message_mark_message_read":
            found = s.mark_read(str(form.get("messageid", "")), float(str(form.get("timeread") or 0)) or None)
            if found is None:
                return _moodle_exception(
                    "invalidrecord", "Can't find data record in database table messages."
                )
            return web.json_response({"messageid": int(found.id), "warnings": []})
        return _moodle_exception(
            "servicenotavailable", f"Web service is not available (it doesn't exist): {function}"
        )

    def _moodle_send(self, s: ProviderState, form: Any, fault: Fault | None) -> list[dict[str, Any]]:
        messages: dict[int, dict[str, str]] = {}
        for key, value in form.items():
            m = _MOODLE_MESSAGE_FIELD.match(key)
            if m:
                messages.setdefault(int(m.group(1)), {})[m.group(2)] = str(value)
        answer = []
        now = time.time()
        for _, item in sorted(messages.items()):
            clientmsgid = item.get("clientmsgid", "")
            base = {"clientmsgid": clientmsgid, "text": item.get("text", "")}
            touser = item.get("touserid", "")
            user = s.users.get(int(touser)) if touser.isdigit() else None
            if fault is not None:
                answer.append({**base, "msgid": -1, "errormessage": fault.errormessage})
            elif user is None:
                answer.append(
                    {
                        **base,
                        "msgid": -1,
                        "errormessage": f"The user ID you are trying to send a message to ({touser}) "
                        "does not exist",
                    }
                )
            elif not user.active:
                answer.append({**base, "msgid": -1, "errormessage": "The user you are trying to message "
                               "can't be messaged right now"})  # fmt: skip
            else:
                received = s.receive(
                    Received(
                        "moodle",
                        s.next_id(),
                        str(user.id),
                        "",
                        item.get("text", ""),
                        {"0": "moodle", "1": "html", "2": "plain", "4": "markdown"}.get(
                            item.get("textformat", "0"), "moodle"
                        ),
                        now,
                        meta={"clientmsgid": clientmsgid, "to_email": user.email},
                    ),
                    key=clientmsgid,
                )
                answer.append(
                    {
                        **base,
                        "msgid": int(received.id),
                        "timecreated": int(now),
                        "conversationid": user.id,
                        "useridfrom": MOODLE_ADMIN_ID,
                        "candeletemessagesforallusers": False,
                    }
                )
        return answer

    # --- Zulip ----------------------------------------------------------------------------------------

    def _zulip_refusal(self, request: web.Request, operation: str) -> web.Response | None:
        s = self.state["zulip"]
        fault = _refusal(request, s.failing(operation))
        if fault is not None:
            code = fault.errorcode or ("RATE_LIMIT_HIT" if fault.status == 429 else "BAD_REQUEST")
            body: dict[str, Any] = {"result": "error", "msg": f"fault injected: {code}", "code": code}
            headers = {}
            if fault.status == 429:
                body["msg"] = "API usage exceeded rate limit"
                body["retry-after"] = fault.retry_after or 1.0
                headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Limit": "200"}
            return _fault_response(fault, body=body, headers=headers)
        try:
            auth = BasicAuth.decode(request.headers.get("Authorization", ""))
        except ValueError:
            auth = None
        if auth is None or (auth.login, auth.password) != (
            self.config.zulip_bot_email,
            self.config.zulip_api_key,
        ):
            return web.json_response(
                {"result": "error", "msg": "Invalid API key", "code": "INVALID_API_KEY"}, status=401
            )
        return None

    async def zulip_send(self, request: web.Request) -> web.Response:
        await self._latency()
        refused = self._zulip_refusal(request, "send_message")
        if refused is not None:
            return refused
        s = self.state["zulip"]
        form = await request.post()
        kind, content = str(form.get("type", "")), str(form.get("content", ""))
        if kind not in ("direct", "private"):
            return _zulip_error(f"Invalid message type {kind!r}: this server takes direct messages")
        try:
            to = json.loads(str(form.get("to", "")))
            ids = [int(x) for x in (to if isinstance(to, list) else [to])]
        except (ValueError, TypeError):
            return _zulip_error("Invalid 'to': a JSON list of user ids")
        if not content.strip():
            return _zulip_error("Message must not be empty")
        if len(content.encode()) > 10_000:
            return _zulip_error("Message is too long")
        for user_id in ids:
            if user_id not in s.users:
                return _zulip_error(f"Invalid user ID {user_id}")
        received = s.receive(
            Received("zulip", s.next_id(), ",".join(map(str, ids)), "", content, "markdown", time.time())
        )
        return web.json_response({"result": "success", "msg": "", "id": int(received.id)})

    async def zulip_user(self, request: web.Request) -> web.Response:
        refused = self._zulip_refusal(request, "get_user")
        if refused is not None:
            return refused
        user = self.state["zulip"].user_by_email(request.match_info["email"])
        if user is None:
            return _zulip_error("No such user")
        return web.json_response(
            {
                "result": "success",
                "msg": "",
                "user": {
                    "user_id": user.id,
                    "email": user.email,
                    "full_name": user.full_name,
                    "is_active": user.active,
                    "is_bot": False,
                },
            }
        )

    async def zulip_receipts(self, request: web.Request) -> web.Response:
        refused = self._zulip_refusal(request, "read_receipts")
        if refused is not None:
            return refused
        found = self.state["zulip"].by_id.get(request.match_info["id"])
        if found is None:
            return _zulip_error("Invalid message(s)")
        readers = [int(x) for x in found.to.split(",")] if found.read_at is not None else []
        return web.json_response({"result": "success", "msg": "", "user_ids": readers})

    # --- Slack ----------------------------------------------------------------------------------------

    async def slack(self, request: web.Request) -> web.Response:
        await self._latency()
        s = self.state["slack"]
        hook = request.match_info["hook"]
        fault = _refusal(request, s.failing("webhook"))
        if fault is not None:
            return _fault_response(fault, text=SLACK_REASONS.get(fault.status, "internal_error"))
        try:
            body = await request.json()
        except ValueError:
            return web.Response(status=400, text="invalid_payload")
        if not isinstance(body, dict) or not (body.get("text") or body.get("blocks")):
            return web.Response(status=400, text="no_text")
        if body.get("blocks") is not None and not isinstance(body["blocks"], list):
            return web.Response(status=400, text="invalid_blocks")
        header = next((b["text"]["text"] for b in body.get("blocks") or [] if b.get("type") == "header"), "")
        s.receive(
            Received(
                "slack",
                s.next_id(),
                hook,
                header,
                str(body.get("text", "")),
                "mrkdwn",
                time.time(),
                meta={"blocks": body.get("blocks") or []},
            )
        )
        return web.Response(text="ok")

    # --- PagerDuty ------------------------------------------------------------------------------------

    async def pagerduty(self, request: web.Request) -> web.Response:
        await self._latency()
        s = self.state["pagerduty"]
        fault = _refusal(request, s.failing("enqueue"))
        if fault is not None:
            return _fault_response(
                fault,
                body={
                    "status": "throttle event" if fault.status == 429 else "error",
                    "message": "fault injected",
                },
            )
        try:
            event = await request.json()
        except ValueError:
            return _pd_invalid("Event object is invalid", "body is not JSON")
        if not isinstance(event, dict):
            return _pd_invalid("Event object is invalid", "body is not an object")
        errors = _pd_errors(event, self.config.pagerduty_routing_key)
        if errors:
            return _pd_invalid("Event object is invalid", *errors)
        action = event["event_action"]
        dedup_key = event.get("dedup_key") or f"pd-{s.next_id()}"
        # An acknowledge or resolve of an unknown incident is accepted and changes nothing, as on
        # PagerDuty; the event is still listed (its incident "unknown").
        if action == "trigger" or dedup_key in self.state.incidents:
            self.state.incidents[dedup_key] = {
                "trigger": "triggered",
                "acknowledge": "acknowledged",
                "resolve": "resolved",
            }[action]
        payload = event.get("payload") or {}
        s.receive(
            Received(
                "pagerduty",
                s.next_id(),
                event["routing_key"][:6] + "…",
                str(payload.get("summary", "")),
                json.dumps(payload.get("custom_details", {}), ensure_ascii=False),
                "json",
                time.time(),
                meta={
                    "event_action": action,
                    "dedup_key": dedup_key,
                    "severity": payload.get("severity"),
                    "source": payload.get("source"),
                    "links": event.get("links", []),
                    "incident": self.state.incidents.get(dedup_key, "unknown"),
                },
            )
        )
        return web.json_response(
            {"status": "success", "message": "Event processed", "dedup_key": dedup_key}, status=202
        )

    # --- the page and the JSON API ----------------------------------------------------------------------

    async def inbox_page(self, request: web.Request) -> web.Response:
        return web.Response(text=page.render(self.state, self.smtp_port), content_type="text/html")

    async def page_mark_read(self, request: web.Request) -> web.Response:
        form = await request.post()
        provider = str(form.get("provider", ""))
        if provider in PROVIDERS:
            self.state[provider].mark_read(str(form.get("id", "")))
        raise web.HTTPSeeOther("/")

    async def api_messages(self, request: web.Request) -> web.Response:
        wanted = request.query.get("provider")
        if wanted is not None and wanted not in PROVIDERS:
            return _api_error(f"unknown provider {wanted!r}; one of {', '.join(PROVIDERS)}", 404)
        names = [wanted] if wanted else list(PROVIDERS)
        messages = [m.to_json() for n in names for m in self.state[n].messages]
        messages.sort(key=lambda m: m["received_at"])
        return web.json_response({"messages": messages})

    async def api_state(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "providers": {n: self.state[n].summary() for n in PROVIDERS},
                "incidents": self.state.incidents,
                "endpoints": self.channel_env_public(),
            }
        )

    def channel_env_public(self) -> dict[str, str]:
        return {k: v for k, v in self.channel_env().items() if not k.endswith(("TOKEN", "KEY", "PASSWORD"))}

    async def api_reset(self, request: web.Request) -> web.Response:
        for name in PROVIDERS:
            self.state[name].reset()
        self.state.incidents.clear()
        return web.json_response({"reset": True})

    def _provider(self, request: web.Request) -> ProviderState:
        name = request.match_info["provider"]
        if name not in PROVIDERS:
            raise web.HTTPNotFound(
                text=json.dumps({"error": f"unknown provider {name!r}; one of {', '.join(PROVIDERS)}"}),
                content_type="application/json",
            )
        return self.state[name]

    async def api_add_user(self, request: web.Request) -> web.Response:
        s = self._provider(request)
        body = await _json_object(request)
        address = str(body.get("email", "")).strip()
        if "@" not in address:
            return _api_error("email: an address is required")
        user = s.add_user(address, str(body.get("full_name", "")))
        if "active" in body:
            user.active = bool(body["active"])
        return web.json_response(user.to_json())

    async def api_mark_read(self, request: web.Request) -> web.Response:
        s = self._provider(request)
        found = s.mark_read(request.match_info["id"])
        if found is None:
            return _api_error(f"no {s.name} message {request.match_info['id']}", 404)
        return web.json_response(found.to_json())

    async def api_set_fault(self, request: web.Request) -> web.Response:
        s = self._provider(request)
        try:
            s.fault = Fault.from_json(await _json_object(request))
        except (ValueError, TypeError) as exc:
            return _api_error(str(exc))
        return web.json_response(s.fault.to_json())

    async def api_clear_fault(self, request: web.Request) -> web.Response:
        s = self._provider(request)
        s.fault = None
        return web.json_response({"fault": None})


class SmtpHandler:
    """aiosmtpd handler: keeps every accepted email, answers injected faults at DATA."""

    def __init__(self, state: ProviderState):
        self.state = state

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        """A mailbox at a `.invalid` domain (RFC 2606: never a real one) does not exist: 550, as a
        relay answers for an unknown user, so a terminal email failure needs no fault injection."""
        if address.rpartition("@")[2].lower().endswith(".invalid"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        fault = self.state.failing("data")
        if fault is not None:
            return f"{fault.status} fault injected"
        raw = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        text_part = parsed.get_body(("plain",))
        html_part = parsed.get_body(("html",))
        message_id = str(parsed.get("Message-ID", ""))
        for rcpt in envelope.rcpt_tos:
            self.state.receive(
                Received(
                    "email",
                    self.state.next_id(),
                    rcpt,
                    str(parsed.get("Subject", "")),
                    text_part.get_content() if text_part is not None else "",
                    "html" if html_part is not None else "text",
                    time.time(),
                    meta={
                        "from": envelope.mail_from,
                        "message_id": message_id,
                        "html": html_part.get_content() if html_part is not None else "",
                        "tls": session.ssl is not None,
                        "authenticated": bool(session.authenticated),
                    },
                ),
                key=message_id,
            )
        return "250 Message accepted for delivery"


# --- answers -------------------------------------------------------------------------------------------

_LOST_ANSWER = web.RequestKey("lost_answer", Fault)


def _refusal(request: web.Request, fault: Fault | None) -> Fault | None:
    """The fault to answer this call with instead of serving it; a lost-answer fault
    (`after_serving`) is kept for `_lose_answers` and the call is served."""
    if fault is not None and fault.after_serving:
        request[_LOST_ANSWER] = fault
        return None
    return fault


@web.middleware
async def _lose_answers(request: web.Request, handler: Any) -> web.StreamResponse:
    """After a call served under a lost-answer fault: drop the connection, answer late, or answer the
    fault's status instead of what the provider said."""
    response = await handler(request)
    fault = request.get(_LOST_ANSWER)
    if fault is None:
        return response
    if fault.after_serving == "drop":
        if request.transport is not None:
            request.transport.close()  # the client sees the connection end with no answer
    elif fault.after_serving == "delay":
        await asyncio.sleep(fault.delay_seconds)
    else:
        return _fault_response(fault, text=f"<html><body>{fault.status} (the call was served)</body></html>")
    return response


def _fault_response(
    fault: Fault,
    *,
    body: dict[str, Any] | None = None,
    text: str = "",
    headers: dict[str, str] | None = None,
) -> web.Response:
    all_headers = dict(headers or {})
    if fault.retry_after is not None:
        all_headers["Retry-After"] = f"{fault.retry_after:g}"
    if body is not None:
        return web.json_response(body, status=fault.status, headers=all_headers)
    return web.Response(status=fault.status, text=text, headers=all_headers)


def _moodle_exception(errorcode: str, message: str, status: int = 200) -> web.Response:
    return web.json_response(
        {"exception": "moodle_exception", "errorcode": errorcode, "message": message}, status=status
    )


def _moodle_users(s: ProviderState, form: Any) -> list[dict[str, Any]]:
    field_name = str(form.get("field", ""))
    values = [str(v) for k, v in form.items() if k.startswith("values[")]
    found = []
    for user in s.users.values():
        key = {"email": user.email.lower(), "id": str(user.id)}.get(field_name)
        if key is not None and key in {v.lower() for v in values}:
            first, _, last = user.full_name.partition(" ")
            found.append(
                {
                    "id": user.id,
                    "username": user.email.split("@")[0],
                    "firstname": first,
                    "lastname": last,
                    "fullname": user.full_name,
                    "email": user.email,
                    "suspended": not user.active,
                }
            )
    return found


def _moodle_messages(s: ProviderState, form: Any) -> dict[str, Any]:
    """core_message_get_messages: read 0 unread, 1 read, 2 both; newest first when asked."""
    to = str(form.get("useridto", ""))
    read = str(form.get("read", "1"))
    limit = int(str(form.get("limitnum") or 0)) or None
    start = int(str(form.get("limitfrom") or 0))
    chosen = [
        m for m in s.messages if m.to == to and (read == "2" or (read == "1") == (m.read_at is not None))
    ]
    if str(form.get("newestfirst", "1")) == "1":
        chosen.reverse()
    chosen = chosen[start : start + limit if limit else None]
    return {
        "messages": [
            {
                "id": int(m.id),
                "useridfrom": MOODLE_ADMIN_ID,
                "useridto": int(m.to),
                "subject": "",
                "text": m.text,
                "fullmessage": m.text,
                "fullmessageformat": 1,
                "fullmessagehtml": m.text,
                "smallmessage": m.text[:100],
                "notification": 0,
                "timecreated": int(m.received_at),
                "timeread": int(m.read_at) if m.read_at is not None else 0,
                "usertofullname": s.users[int(m.to)].full_name if int(m.to) in s.users else "",
                "userfromfullname": "Admin User",
            }
            for m in chosen
        ],
        "warnings": [],
    }


def _zulip_error(msg: str) -> web.Response:
    return web.json_response({"result": "error", "msg": msg, "code": "BAD_REQUEST"}, status=400)


def _pd_errors(event: dict[str, Any], routing_key: str) -> list[str]:
    errors = []
    key = event.get("routing_key")
    if not isinstance(key, str) or not key or (routing_key and key != routing_key):
        errors.append("'routing_key' is invalid")
    action = event.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        errors.append("'event_action' must be one of trigger, acknowledge, resolve")
    dedup_key = event.get("dedup_key")
    if dedup_key is not None and (not isinstance(dedup_key, str) or len(dedup_key) > 255):
        errors.append("'dedup_key' must be a string of at most 255 characters")
    if action in ("acknowledge", "resolve") and not dedup_key:
        errors.append("'dedup_key' is required for acknowledge and resolve")
    if action == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            errors.append("'payload' is missing or not an object")
        else:
            summary = payload.get("summary")
            if not isinstance(summary, str) or not summary or len(summary) > 1024:
                errors.append("'payload.summary' must be 1 to 1024 characters")
            if not payload.get("source"):
                errors.append("'payload.source' is missing")
            if payload.get("severity") not in ("critical", "error", "warning", "info"):
                errors.append("'payload.severity' must be one of critical, error, warning, info")
    return errors


def _pd_invalid(message: str, *errors: str) -> web.Response:
    return web.json_response(
        {"status": "invalid event", "message": message, "errors": list(errors)}, status=400
    )


def _api_error(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "the body must be a JSON object"}), content_type="application/json"
        ) from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "the body must be a JSON object"}), content_type="application/json"
        )
    return body
