"""Local servers that speak the providers' wire formats (REFERENCE.md §4): Moodle web services, Zulip's
REST API, Slack incoming webhooks and PagerDuty's Events API v2 on one HTTP port (by path), and an
SMTP server (aiosmtpd) on another. They keep what they received in memory and show it, as Mailpit does
for email: an HTML page at `/` and a JSON API under `/_api/` (what arrived, users, marking a message
read, fault injection). `python -m services.notify.fakes --help` runs them; `learnflow up` starts
them unless real endpoints are configured; tests run them in a thread (FakeProviders.running).

Why fakes of the wire format rather than mocks of our client: the real channel code (form encoding,
auth headers, status and body classification, Retry-After) runs in every test and in the demo.
"""

from services.notify.fakes.server import FakeProviders, FakesConfig

__all__ = ["FakeProviders", "FakesConfig"]
