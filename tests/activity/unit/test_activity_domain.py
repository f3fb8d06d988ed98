"""activity's domain rules: the state machine, deterministic ids, the mentor's message, the xAPI shape
and the settings' validation."""

from datetime import UTC, datetime, timedelta

import pytest

from services.activity.domain import (
    CONTENTS,
    EXAMS,
    LmsAttempt,
    build_event,
    decide,
    event_id,
    format_message,
    parse_event_types,
)
from services.activity.settings import ActivityConfig

T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def attempt(state: str, source: str = EXAMS, **kw) -> LmsAttempt:
    base = dict(
        source=source,
        id=7,
        state=state,
        updated_at=T0,
        student_id=1,
        student_name="Ada",
        activity_id=3,
        activity_title="Loops Exam",
        course="Python 1",
        chapter="Chapter 2",
    )
    return LmsAttempt(**{**base, **kw})


@pytest.mark.parametrize(
    ("state", "emitted", "emit", "skip"),
    [
        ("started", "", ("started",), ""),
        ("passed", "", ("started", "completed", "passed"), ""),
        ("failed", "started", ("completed", "failed"), ""),
        ("completed", "completed", (), "duplicate"),
        ("started", "passed", (), "regression passed → started"),
        ("passed", "failed", (), "conflict failed → passed"),
    ],
)
def test_exam_state_machine(state, emitted, emit, skip):
    d = decide(attempt(state), emitted)
    assert (d.emit, d.skip, d.reject) == (emit, skip, "")


def test_content_states_and_bad_rows():
    assert decide(attempt("watched", CONTENTS), "").emit == ("started", "watched")
    assert decide(attempt("completed", CONTENTS), "watched").skip == "conflict watched → completed"
    assert decide(attempt("graded"), "").reject == "unknown state 'graded'"
    assert decide(attempt("passed", CONTENTS), "").reject == "unknown state 'passed'"
    assert decide(attempt("started", student_id=None, student_name=None), "").reject == "missing student None"
    assert decide(attempt("started", student_name=None), "").reject == "missing student 1"
    assert decide(attempt("started", activity_title=None), "").reject == "missing exam 3"


def test_event_ids_are_deterministic_and_distinct():
    assert event_id("lms", EXAMS, 7, "passed") == event_id("lms", EXAMS, 7, "passed")
    ids = {
        event_id("lms", s, i, st)
        for s in (EXAMS, CONTENTS)
        for i in (7, 8)
        for st in ("started", "completed")
    }
    assert len(ids) == 8
    assert event_id("lms", EXAMS, 7, "passed") != event_id("other", EXAMS, 7, "passed")


def test_the_mentor_message_and_the_statement():
    a = attempt(
        "passed",
        score=7.25,
        percentage=72.5,
        started_at=T0,
        finished_at=T0 + timedelta(minutes=12, seconds=3),
    )
    ev = build_event("lms", "t", a, "passed")
    assert format_message(ev) == (
        "🎓 Student **Ada** just completed **Loops Exam** - Score: 72.5%, Result: Pass\n"
        "- Time taken: 12m 3s\n"
        "- Course: Python 1 > Chapter 2"
    )
    s = ev.statement
    assert s["id"] == ev.event_id and s["verb"]["display"] == {"en-US": "passed"}
    assert s["result"] == {
        "score": {"scaled": 0.725, "raw": 7.25},
        "success": True,
        "completion": True,
        "duration": "PT723S",
    }
    assert s["object"]["id"] == "lms://lms/exams/3" and s["timestamp"] == a.finished_at.isoformat()
    started = build_event(
        "lms", "t", attempt("started", source=CONTENTS, activity_title="Intro (video)"), "started"
    )
    assert (
        format_message(started)
        == "📚 Student **Ada** just started **Intro (video)**\n- Course: Python 1 > Chapter 2"
    )
    assert "result" not in started.statement


def test_settings_are_validated():
    everything = "exam_started,exam_completed,exam_passed,exam_failed,content_started,content_completed,"
    everything += "content_watched"
    assert parse_event_types("") == parse_event_types(everything)
    with pytest.raises(ValueError, match="exam_exploded"):
        ActivityConfig(event_types="exam_passed,exam_exploded")
    with pytest.raises(ValueError, match="LMS_DATABASE_URL"):
        ActivityConfig(monitor_enabled=True)
    with pytest.raises(ValueError, match="LMS_TENANT_ID"):
        ActivityConfig(
            monitor_enabled=True, lms_database_url="postgresql+psycopg://x@h/lms", lms_tenant_id="demo"
        )
