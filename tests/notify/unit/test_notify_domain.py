"""notify's domain rules: strict, escaped, bounded template rendering; quiet-hour windows in the
recipient's time zone (across midnight and daylight saving); digests within a channel's limit; the
retry schedule."""

import uuid
from datetime import UTC, datetime, time

import pytest

from services.notify import domain
from services.notify.domain import Delivery, QuietHours, Template
from services.runtime.errors import InvalidArgument, Violations

T = uuid.uuid4()


def _template(body: str, subject: str = "Hi {{ name }}") -> Template:
    return Template(tenant_id=T, name="nudge", version=3, subject=subject, body=body)


def test_every_variable_is_required_and_the_error_names_the_field_and_the_variable():
    with pytest.raises(InvalidArgument) as err:
        domain.render(
            _template("{{ student_name }} has {{ count }} tasks"),
            {"name": "x", "count": "2"},
            body_format="text",
            max_length=100,
            path="message",
        )
    [violation] = err.value.violations
    assert violation.field == "message.variables"
    assert "'student_name'" in violation.description and "v3" in violation.description


def test_html_channels_escape_values_and_others_do_not():
    t = _template("<p>Hello {{ name }}</p>")
    html = domain.render(t, {"name": "<script>alert(1)</script>"}, body_format="html", max_length=500)
    assert "<script>" not in html.body and "&lt;script&gt;" in html.body
    assert html.body.startswith("<p>Hello")  # the template's own markup stays
    text = domain.render(t, {"name": "<b>"}, body_format="text", max_length=500)
    assert text.body == "<p>Hello <b></p>"
    assert html.subject == "Hi <script>alert(1)</script>"  # subjects are never HTML


def test_a_body_longer_than_the_channel_takes_is_refused_with_its_length():
    with pytest.raises(InvalidArgument) as err:
        domain.render(_template("{{ name }}"), {"name": "x" * 101}, body_format="text", max_length=100)
    assert err.value.reason == "MESSAGE_TOO_LONG"
    assert "101" in err.value.violations[0].description and "100" in err.value.violations[0].description


def test_the_sandbox_refuses_reaching_into_python():
    with pytest.raises(InvalidArgument) as err:
        domain.render(
            _template("{{ name.__class__.__mro__[1].__subclasses__() }}"),
            {"name": "x"},
            body_format="text",
            max_length=10_000,
        )
    assert err.value.violations[0].field == "template"


def test_template_syntax_and_name_are_checked_when_saved():
    v = Violations()
    domain.check_template(v, "Bad Name", "ok", "{% if %}", "template")
    assert {i.field for i in v.items} == {"template.name", "template.body"}


@pytest.mark.parametrize(
    ("subject", "body", "field"),
    [
        ("ok", "{{" + "(" * 200 + "x" + ")" * 200 + "}}", "template.body"),
        ("{{" + "(" * 200 + "x" + ")" * 200 + "}}", "ok", "template.subject"),
        ("ok", "{% if x %}" * 100 + "x" + "{% endif %}" * 100, "template.body"),
    ],
    ids=["parentheses-in-body", "parentheses-in-subject", "blocks-in-body"],
)
def test_a_template_nested_too_deeply_is_a_field_violation_not_a_crash(subject, body, field):
    v = Violations()
    domain.check_template(v, "deep", subject, body, "template")
    assert [(i.field, "nested too deeply" in i.description) for i in v.items] == [(field, True)]


@pytest.mark.parametrize(
    ("local", "expected_end"),
    [
        ("2026-07-01T21:59", None),
        ("2026-07-01T22:00", "2026-07-02T07:00"),
        ("2026-07-02T03:30", "2026-07-02T07:00"),
        ("2026-07-02T07:00", None),
    ],
)
def test_a_window_across_midnight_in_the_recipients_zone(local, expected_end):
    from zoneinfo import ZoneInfo

    paris = ZoneInfo("Europe/Paris")
    hours = QuietHours("u", time(22, 0), time(7, 0), "Europe/Paris")
    now = datetime.fromisoformat(local).replace(tzinfo=paris).astimezone(UTC)
    until = domain.quiet_until(hours, "", now)
    if expected_end is None:
        assert until is None
    else:
        assert until == datetime.fromisoformat(expected_end).replace(tzinfo=paris).astimezone(UTC)


def test_the_users_own_zone_applies_when_the_window_names_none_and_a_same_day_window_works():
    hours = QuietHours("u", time(12, 0), time(13, 0), "")
    now = datetime(2026, 7, 1, 10, 30, tzinfo=UTC)  # 12:30 in Paris (UTC+2), 10:30 in UTC
    assert domain.quiet_until(hours, "Europe/Paris", now) == datetime(2026, 7, 1, 11, 0, tzinfo=UTC)
    assert domain.quiet_until(hours, "", now) is None
    assert domain.quiet_until(QuietHours("u", time(9), time(9), ""), "", now) is None
    assert domain.quiet_until(QuietHours("u", time(0), time(23), "", enabled=False), "", now) is None


def _held(n: int, body: str) -> list[Delivery]:
    return [
        Delivery(
            id=uuid.uuid4(),
            tenant_id=T,
            channel="email",
            requested_channel="email",
            recipient_id="u",
            address="",
            template="",
            template_version=0,
            variables={},
            subject=f"s{i}",
            body=f"{body}{i}",
            urgency="normal",
            status="deferred",
        )
        for i in range(n)
    ]


def test_a_digest_keeps_whole_messages_within_the_limit():
    subject, body, count = domain.digest(_held(3, "b" * 40), "text", 10_000)
    assert count == 3 and subject.startswith("3 messages") and body.count("---") == 2
    _, body, count = domain.digest(_held(3, "b" * 40), "text", 100)
    assert count == 2 and len(body) <= 100  # the third waits for the next digest, not cut


def test_retry_delay_grows_exponentially_is_jittered_and_respects_retry_after():
    assert [domain.retry_delay(n, 30, 3600, None, 0.999999) for n in (1, 2, 3)] == pytest.approx(
        [30, 60, 120], rel=1e-5
    )
    assert domain.retry_delay(2, 30, 3600, None, 0.5) == 30
    assert domain.retry_delay(1, 30, 3600, 90, 0.1) == 90  # never before Retry-After
    assert domain.retry_delay(20, 30, 3600, None, 0.999999) <= 3600
