"""The inbox page: what each local provider received, newest first, with a button to mark a message
read (so read receipts and escalation on unread can be shown without any real account)."""

from __future__ import annotations

import html
import time

from services.notify.fakes.state import PROVIDERS, State

SHOWN = 100  # per provider on the page; the JSON API has them all

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1b1b1b}
h1{font-size:1.4rem} h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;width:100%} th,td{border-bottom:1px solid #ddd;padding:.35rem .5rem;
text-align:left;vertical-align:top;font-size:.9rem} th{background:#f3f3f3}
.body{white-space:pre-wrap;max-width:50rem;overflow-wrap:anywhere} .muted{color:#666}
.dup{color:#a40000;font-weight:600} button{font-size:.8rem}
"""


def render(state: State, smtp_port: int) -> str:
    e = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta http-equiv='refresh' content='5'>",
        "<title>LearnFlow local providers</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>LearnFlow local providers: what they received</h1>",
        "<p class='muted'>Moodle, Zulip, Slack, PagerDuty and email servers speaking the real wire formats, "
        "for local runs. JSON: <a href='/_api/messages'>/_api/messages</a>, "
        "<a href='/_api/state'>/_api/state</a>. Refreshes every 5 s.</p>",
    ]
    for name in PROVIDERS:
        s = state[name]
        messages = list(s.messages)[-SHOWN:][::-1]
        fault = f" — fault injected: {e(str(s.fault.to_json()))}" if s.fault else ""
        parts.append(
            f"<h2 id='{name}'>{name} <span class='muted'>({len(s.messages)} received{fault})</span></h2>"
        )
        if not messages:
            parts.append("<p class='muted'>Nothing yet.</p>")
            continue
        parts.append(
            "<table><thead><tr><th scope='col'>id</th><th scope='col'>received</th><th scope='col'>to</th>"
            "<th scope='col'>message</th><th scope='col'>read</th></tr></thead><tbody>"
        )
        for m in messages:
            to = m.to + (f" ({m.meta['to_email']})" if m.meta.get("to_email") else "")
            dup = f"<div class='dup'>duplicate of {e(m.duplicate_of)}</div>" if m.duplicate_of else ""
            subject = f"<strong>{e(m.subject)}</strong><br>" if m.subject else ""
            if m.read_at is not None:
                read = e(_when(m.read_at))
            else:
                read = (
                    "<form method='post' action='/_page/read'>"
                    f"<input type='hidden' name='provider' value='{e(name)}'>"
                    f"<input type='hidden' name='id' value='{e(m.id)}'>"
                    "<button type='submit'>mark read</button></form>"
                )
            # The text is shown as text, never as markup: a message is data here, whatever its format.
            parts.append(
                f"<tr><td>{e(m.id)}</td><td>{e(_when(m.received_at))}</td><td>{e(to)}</td>"
                f"<td>{subject}<div class='body'>{e(m.text)}</div>{dup}</td><td>{read}</td></tr>"
            )
        parts.append("</tbody></table>")
    parts.append(f"<p class='muted'>SMTP on port {smtp_port}.</p></body></html>")
    return "".join(parts)


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))
