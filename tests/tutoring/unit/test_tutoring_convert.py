"""A message's stored body keeps the layout rows have always had — the ChatMessage's proto JSON form
without the columns' fields — now that the store writes it from the domain without protobuf: rows
written before, and by a replica still running the previous version, read the same."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace

from google.protobuf import json_format

from services.tutoring import convert, store
from services.tutoring.domain.chat import (
    Author,
    ChatMessage,
    CodeReview,
    ExerciseCard,
    HintStep,
    ReviewComment,
    Routing,
    Source,
    TutoringRequest,
)
from services.tutoring.domain.exercises import Difficulty
from services.tutoring.domain.triage import Route

_COLUMNS = ("id", "conversation_id", "sequence", "create_time")

MESSAGES = [
    ChatMessage(author=Author.STUDENT, text="why?", code="print(x)", error="NameError: name 'x'"),
    ChatMessage(author=Author.TUTOR, triage=Routing()),  # a route not decided: an empty triage
    ChatMessage(
        author=Author.TUTOR,
        text="Look at line 2.",
        in_reply_to="6f1c2b9e-3d4a-4e5f-8a7b-1c2d3e4f5a6b",
        triage=Routing(Route.DEBUG, 0.75, "a traceback is attached", "loops", "rules"),
        agent="debug",
        provider="offline",
        sources=(Source("Python documentation: for", "pydoc:topics/for"),),
        hint=HintStep(rung=2, rungs=3, problem_key="name:x", cause="x is never assigned", line=2),
    ),
    ChatMessage(
        author=Author.TUTOR,
        review=CodeReview((ReviewComment(3, "style", "long line", "split it"),), 0.5, "OK"),
        exercise=ExerciseCard("e1", "Sum", "Add them", "def f():", "loops", Difficulty.HARD, 4, 2, 1),
    ),
]


def _proto_json(message: ChatMessage) -> dict:
    proto = convert.message_to_proto(message)
    for name in _COLUMNS:
        proto.ClearField(name)
    return json_format.MessageToDict(proto, preserving_proto_field_name=True)


def test_the_store_writes_the_proto_json_layout():
    for message in MESSAGES:
        assert store._body(message) == _proto_json(message)


def test_a_stored_body_reads_back_as_the_same_message():
    created = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    for n, message in enumerate(MESSAGES, start=1):
        row = SimpleNamespace(
            id=f"00000000-0000-0000-0000-00000000000{n}",
            conversation_id="c0000000-0000-0000-0000-000000000000",
            sequence=n,
            created_at=created,
            body=_proto_json(message),  # as the previous version wrote it
        )
        expected = replace(
            message, id=row.id, conversation_id=row.conversation_id, sequence=n, created_at=created
        )
        assert store._message(row) == expected


def test_a_request_survives_the_event_round_trip():
    request = TutoringRequest(
        conversation_id="c",
        message_id="m",
        student_id="s",
        text="an exercise",
        triage=Routing(Route.EXERCISE, 1.0, "exercise requested", "loops", "client"),
        topic="loops",
        difficulty=Difficulty.MEDIUM,
        variation=3,
    )
    assert convert.request_from_proto(convert.request_event(request)) == request
    assert convert.request_from_proto(convert.request_event(TutoringRequest())) == TutoringRequest()


def test_an_unknown_difficulty_is_kept_for_validation_to_report():
    assert convert.difficulty_from_proto(0) == ""
    assert convert.difficulty_from_proto(2) == "medium"
    assert convert.difficulty_from_proto(9) == "difficulty_9"
