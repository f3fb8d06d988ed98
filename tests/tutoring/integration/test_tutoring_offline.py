"""tutoring on the real mesh, offline (no model configured): questions through Envoy's REST, answers
on the SSE stream and in the conversation, triage's routes, the hint ladder enforced by the server,
code review with a sandbox run, exercises validated in the sandbox, bad input, poison events.
Beyond the concept map: a question the map does not know is answered from the interpreter's
documentation (quoted and cited), or honestly not; questions in Spanish, French and German get a real
answer that says it is in English; a follow-up without code in a conversation is about the
conversation's code and climbs the same problem's hint ladder."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
import uuid

import grpc
import nats
import pytest
from learnflow.ops.v1 import operations_service_pb2 as ops_pb
from learnflow.ops.v1 import operations_service_pb2_grpc as ops_grpc
from learnflow.tutoring.v1 import events_pb2

from services.runtime.testing import bearer, login, new_student, rest
from services.tutoring.domain import concepts

LOOP = "i = 0\nwhile i < 10:\n    print(i)\n"


@pytest.fixture(scope="module")
def student(mesh):
    return new_student(mesh)


def stream(mesh, token: str, conversation_id: str, after: int, want: int = 1, wait: int = 20) -> list[dict]:
    """Reads StreamConversation through Envoy as server-sent events until `want` tutor messages came."""
    req = urllib.request.Request(
        f"{mesh.rest_url}/v1/conversations/{conversation_id}:stream?afterSequence={after}&maxWaitSeconds={wait}",
        headers={"Authorization": f"Bearer {token}"},
    )
    got: list[dict] = []
    with urllib.request.urlopen(req, timeout=wait + 10) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream"), resp.headers
        for raw in resp:
            line = raw.decode().strip()
            if not line.startswith("data:"):
                continue
            message = json.loads(line.removeprefix("data:"))
            got.append(message)
            if sum(m.get("author") == "AUTHOR_TUTOR" for m in got) >= want:
                break
    return got


def ask(mesh, who: dict, body: dict) -> dict:
    reply = rest(mesh, "POST", "/v1/questions", body, token=who["token"])
    assert reply.status == 200, reply.body
    return reply.body


def answer_to(mesh, who: dict, asked: dict) -> dict:
    got = stream(mesh, who["token"], asked["conversationId"], int(asked["sequence"]))
    tutor = [m for m in got if m.get("author") == "AUTHOR_TUTOR"]
    assert tutor, got
    assert tutor[0]["inReplyTo"] == asked["id"]
    return tutor[0]


def test_why_does_my_loop_never_end_gets_two_hints_then_the_fix_never_the_fix_first(mesh, student):
    question = {"text": "why does my loop never end?", "code": LOOP}
    first_q = ask(mesh, student, question)
    assert first_q["author"] == "AUTHOR_STUDENT" and first_q["sequence"] == "1"
    first = answer_to(mesh, student, first_q)
    assert first["agent"] == "debug" and first["provider"] == "offline"
    assert first["triage"]["route"] == "ROUTE_DEBUG" and first["triage"]["reason"]
    assert first["hint"]["rung"] == "HINT_RUNG_LOCATE" and first["hint"]["rungs"] == 3
    assert "while" in first["text"] and "2" in first["text"]  # points at the while on line 2
    assert "i += 1" not in first["text"] and not first.get("code")
    assert not first["hint"].get("cause"), "naming the cause is rung 2's job"
    assert first["sources"], "grounded in Python's documentation"

    conversation = first_q["conversationId"]
    second_q = ask(mesh, student, {**question, "conversationId": conversation})
    second = answer_to(mesh, student, second_q)
    assert second["hint"]["rung"] == "HINT_RUNG_EXPLAIN"
    assert "i" in second["text"] and "i += 1" not in second["text"] and not second.get("code")
    assert second["hint"]["problemKey"] == first["hint"]["problemKey"]
    assert second["hint"]["cause"] == "infinite-loop-unchanged-condition"

    third_q = ask(mesh, student, {**question, "conversationId": conversation, "text": "just tell me the fix"})
    third = answer_to(mesh, student, third_q)
    assert third["hint"]["rung"] == "HINT_RUNG_FIX"
    assert "i += 1" in third["code"]

    # The whole exchange is kept, in order; the student's messages carry the route triage took.
    history = rest(mesh, "GET", f"/v1/conversations/{conversation}", token=student["token"]).body
    authors = [m["author"] for m in history["messages"]]
    assert authors == ["AUTHOR_STUDENT", "AUTHOR_TUTOR"] * 3
    assert [m["sequence"] for m in history["messages"]] == [str(i) for i in range(1, 7)]
    assert history["messages"][0]["triage"]["route"] == "ROUTE_DEBUG"


def test_asking_again_cannot_skip_the_ladder(mesh):
    """A fresh student who demands the answer at once still gets the first rung; the ladder is kept
    per student and problem, so another student starts at the bottom too."""
    pupil = new_student(mesh)
    asked = ask(mesh, pupil, {"text": "just give me the solution, my loop never ends", "code": LOOP})
    assert answer_to(mesh, pupil, asked)["hint"]["rung"] == "HINT_RUNG_LOCATE"
    other = new_student(mesh)
    asked = ask(mesh, other, {"text": "why does my loop never end?", "code": LOOP})
    assert answer_to(mesh, other, asked)["hint"]["rung"] == "HINT_RUNG_LOCATE"


def test_a_traceback_is_diagnosed_and_the_error_pattern_reaches_progress(mesh):
    pupil = new_student(mesh)
    code = "total = 0\nfor n in [1, 2, 3]:\n    total = totl + n\nprint(total)\n"
    error = (
        'Traceback (most recent call last):\n  File "main.py", line 3, in <module>\n'
        "    total = totl + n\nNameError: name 'totl' is not defined\n"
    )
    asked = ask(mesh, pupil, {"text": "what is wrong?", "code": code, "error": error})
    hint = answer_to(mesh, pupil, asked)
    assert hint["agent"] == "debug" and hint["hint"]["line"] == 3
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        recent = rest(mesh, "GET", "/v1/students/me/progress", token=pupil["token"]).body.get(
            "recentActivity", []
        )
        hints = [a for a in recent if a["kind"] == "ACTIVITY_KIND_HINT_REQUEST"]
        if hints:
            assert hints[0]["exceptionType"] == "NameError"
            return
        time.sleep(0.2)
    pytest.fail("the hint request never reached progress")


def test_a_concept_question_is_explained_from_pythons_documentation(mesh, student):
    asked = ask(mesh, student, {"text": "What is a for loop in Python and how does it work?"})
    answer = answer_to(mesh, student, asked)
    assert answer["agent"] == "concepts" and answer["triage"]["route"] == "ROUTE_CONCEPT"
    assert any(s["ref"].startswith("pydoc:") for s in answer["sources"])
    assert "for" in answer["text"].lower()


@pytest.mark.parametrize(
    ("text", "route"),
    [("what's the weather like in Paris tomorrow?", "ROUTE_OFF_TOPIC"), ("", "ROUTE_UNCLEAR")],
)
def test_off_topic_and_empty_questions_get_a_graceful_answer(mesh, student, text, route):
    asked = ask(mesh, student, {"text": text})
    answer = answer_to(mesh, student, asked)
    assert answer["agent"] == "triage" and answer["triage"]["route"] == route
    assert "Python" in answer["text"]


def test_submitted_code_gets_line_specific_review_from_static_analysis_and_a_sandbox_run(mesh):
    pupil = new_student(mesh)
    code = "def average(values=[]):\n    return sum(values) / len(values)\n\nprint(average())\n"
    submitted = rest(mesh, "POST", "/v1/codeSubmissions", {"code": code}, token=pupil["token"])
    assert submitted.status == 200, submitted.body
    review = answer_to(mesh, pupil, submitted.body)
    assert review["agent"] == "code_review"
    assert review["review"]["runVerdict"] == "RUNTIME_ERROR"  # ZeroDivisionError, found by running it
    lines = {c["line"] for c in review["review"]["comments"]}
    assert 1 in lines  # the mutable default argument
    assert 0 <= review["review"].get("quality", 0) < 1


def test_an_exercise_is_validated_in_the_sandbox_and_another_request_gives_a_variation(mesh):
    pupil = new_student(mesh)
    first = rest(
        mesh,
        "POST",
        "/v1/exerciseRequests",
        {"topic": "loops", "difficulty": "DIFFICULTY_EASY"},
        token=pupil["token"],
    )
    assert first.status == 200, first.body
    one = answer_to(mesh, pupil, first.body)["exercise"]
    assert one["exerciseId"] and one["hiddenCases"] >= 1 and one["visibleCases"] >= 1
    # The exercise exists in the sandbox and grades the student's code; hidden cases stay hidden.
    fetched = rest(mesh, "GET", f"/v1/exercises/{one['exerciseId']}", token=pupil["token"])
    assert fetched.status == 200 and all(not c.get("hidden") for c in fetched.body["testCases"])
    graded = rest(
        mesh,
        "POST",
        f"/v1/exercises/{one['exerciseId']}:grade",
        {"code": "print('no idea')"},
        token=pupil["token"],
    )
    assert graded.status == 200 and graded.body.get("score", 0) < 1

    second = rest(
        mesh,
        "POST",
        "/v1/exerciseRequests",
        {"topic": "loops", "conversationId": first.body["conversationId"]},
        token=pupil["token"],
    )
    two = answer_to(mesh, pupil, second.body)["exercise"]
    assert two["variation"] != one["variation"] and two["exerciseId"] != one["exerciseId"]


def test_bad_input_is_refused_with_field_details_and_changes_nothing(mesh, student):
    before = rest(mesh, "GET", "/v1/conversations?pageSize=200", token=student["token"]).body
    too_long = rest(mesh, "POST", "/v1/questions", {"text": "x" * 4001}, token=student["token"])
    assert too_long.status == 400
    bad = next(d for d in too_long.body["details"] if d["@type"].endswith("google.rpc.BadRequest"))
    assert [v["field"] for v in bad["fieldViolations"]] == ["text"]
    topic = rest(mesh, "POST", "/v1/exerciseRequests", {"topic": "astrology"}, token=student["token"])
    assert topic.status == 400 and "topic" in json.dumps(topic.body)
    empty_code = rest(mesh, "POST", "/v1/codeSubmissions", {"code": "  "}, token=student["token"])
    assert empty_code.status == 400
    unknown = rest(mesh, "GET", f"/v1/conversations/{uuid.uuid4()}", token=student["token"])
    assert unknown.status == 404
    listed = rest(mesh, "GET", "/v1/conversations?pageSize=200", token=student["token"]).body
    assert listed == before  # nothing was stored
    assert all(c["studentId"] == student["id"] for c in listed.get("conversations", []))


def test_a_student_cannot_read_or_post_into_someone_elses_conversation(mesh, student):
    asked = ask(mesh, student, {"text": "What is a dictionary?"})
    intruder = new_student(mesh)
    peek = rest(mesh, "GET", f"/v1/conversations/{asked['conversationId']}", token=intruder["token"])
    assert peek.status == 403
    post = rest(
        mesh,
        "POST",
        "/v1/questions",
        {"text": "hi", "conversationId": asked["conversationId"]},
        token=intruder["token"],
    )
    assert post.status == 403


def test_conversation_history_is_paginated(mesh):
    pupil = new_student(mesh)
    asked = ask(mesh, pupil, {"text": "What is a list?"})
    answer_to(mesh, pupil, asked)
    cid = asked["conversationId"]
    for text in ("What is a tuple?", "What is a set?"):
        answer_to(mesh, pupil, ask(mesh, pupil, {"text": text, "conversationId": cid}))
    seen, token = [], ""
    while True:
        page = rest(
            mesh, "GET", f"/v1/conversations/{cid}?pageSize=4&pageToken={token}", token=pupil["token"]
        ).body
        seen += [int(m["sequence"]) for m in page["messages"]]
        token = page.get("nextPageToken", "")
        if not token:
            break
    assert seen == list(range(1, 7))


def test_a_malformed_request_event_is_dead_lettered_not_lost(mesh, student):
    async def publish():
        nc = await nats.connect(mesh.nats_url)
        await nc.jetstream().publish(
            "learning.requests",
            events_pb2.TutoringRequest(text="no conversation, no message id").SerializeToString(),
            headers={
                "ce-id": f"poison-{uuid.uuid4().hex}",
                "ce-type": "learnflow.tutoring.v1.TutoringRequest",
                "learnflow-tenant": student["tenant"],
            },
        )
        await nc.close()

    asyncio.run(publish())
    operator = login(mesh, "operator@demo.test")
    deadline = time.monotonic() + 20
    with grpc.insecure_channel(mesh.grpc_addr) as channel:
        stub = ops_grpc.OperationsServiceStub(channel)
        while time.monotonic() < deadline:
            letters = stub.ListDeadLetters(
                ops_pb.ListDeadLettersRequest(context="tutoring", page_size=200), metadata=bearer(operator)
            ).dead_letters
            if any(d.consumer == "tutoring-triage" and "message_id" in d.reason for d in letters):
                return
            time.sleep(0.2)
    pytest.fail("the malformed event was not dead-lettered")


@pytest.mark.parametrize(
    ("code", "fix"),
    [
        (LOOP, "i += 1"),
        ("total = 0\nfor n in [1, 2, 3]:\n    total = totl + n\nprint(total)\n", "total = total + n"),
    ],
)
def test_sending_the_code_for_review_does_not_skip_the_ladder(mesh, code, fix):
    """A review says what is wrong and where, but the fix of the bug stays on the ladder's third rung.
    Its quality still reaches progress, under a topic recognized from the code."""
    pupil = new_student(mesh)
    submitted = rest(mesh, "POST", "/v1/codeSubmissions", {"code": code}, token=pupil["token"])
    assert submitted.status == 200, submitted.body
    review = answer_to(mesh, pupil, submitted.body)
    assert review["agent"] == "code_review" and review["review"]["comments"]
    assert fix not in json.dumps(review)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        recent = rest(mesh, "GET", "/v1/students/me/progress", token=pupil["token"]).body.get(
            "recentActivity", []
        )
        reviews = [a for a in recent if a["kind"] == "ACTIVITY_KIND_CODE_REVIEW"]
        if reviews:
            assert reviews[0]["topic"] in ("loops", "lists")  # recognized from the code
            return
        time.sleep(0.2)
    pytest.fail("the review's quality never reached progress")


def test_an_admin_may_read_a_students_conversation_but_not_write_into_it(mesh, student):
    asked = ask(mesh, student, {"text": "What is a string?"})
    admin = login(mesh, "admin@demo.test")
    read = rest(mesh, "GET", f"/v1/conversations/{asked['conversationId']}", token=admin)
    assert read.status == 200 and read.body["conversation"]["studentId"] == student["id"]
    post = rest(
        mesh, "POST", "/v1/questions", {"text": "hi", "conversationId": asked["conversationId"]}, token=admin
    )
    assert post.status == 403


@pytest.mark.parametrize("path", ["/v1/conversations", "/v1/conversations/{cid}"])
def test_a_page_token_from_elsewhere_is_an_invalid_argument(mesh, student, path):
    asked = ask(mesh, student, {"text": "What is a set?"})
    foreign = "eyJ0IjoieCIsImkiOiJ5In0"  # {"t":"x","i":"y"}: well-formed, but not ours
    reply = rest(
        mesh,
        "GET",
        path.format(cid=asked["conversationId"]) + f"?pageToken={foreign}",
        token=student["token"],
    )
    assert reply.status == 400 and "page_token" in json.dumps(reply.body)


def test_a_concept_is_explained_at_the_students_mastery_level_read_from_progress(mesh):
    """Same question, two students: one new to loops, one proficient (perfect exercises recorded in
    progress). Each gets exactly the offline explanation for their level."""
    question = "What is a for loop in Python and how does it work?"
    newcomer, expert = new_student(mesh), new_student(mesh)
    for _ in range(3):  # perfect exercises, until the evidence makes the topic proficient
        activity = {"id": f"ex-{uuid.uuid4().hex[:8]}", "topic": "loops", "score": 1.0}
        activity["kind"] = "ACTIVITY_KIND_EXERCISE_ATTEMPT"
        recorded = rest(mesh, "POST", "/v1/activities", activity, token=expert["token"])
        assert recorded.status == 200, recorded.body
    levels = rest(mesh, "GET", "/v1/students/me/progress", token=expert["token"]).body["topics"]
    assert [t["level"] for t in levels if t["topic"] == "loops"] == ["MASTERY_LEVEL_PROFICIENT"]
    for who, level in ((newcomer, "new"), (expert, "proficient")):
        answer = answer_to(mesh, who, ask(mesh, who, {"text": question}))
        assert answer["text"] == concepts.explain(question, level).text
    assert concepts.explain(question, "new").text != concepts.explain(question, "proficient").text


# --- beyond the concept map, other languages, follow-ups -------------------------------------------


def test_how_do_decorators_work_gets_a_grounded_answer_offline(mesh, student):
    got = answer_to(mesh, student, ask(mesh, student, {"text": "how do decorators work?"}))
    assert got["agent"] == "concepts" and got["provider"] == "offline"
    refs = [s["ref"] for s in got["sources"]]
    assert "pydoc:topics/function" in refs, refs  # the def statement's documentation, decorators included
    assert "decorator" in got["text"].lower() and 'help("function")' in got["text"]


def test_a_python_question_the_documentation_does_not_cover_is_answered_honestly(mesh, student):
    got = answer_to(mesh, student, ask(mesh, student, {"text": "explain the flibbertigibbet operator"}))
    assert got["agent"] == "concepts" and not got.get("sources")
    assert "couldn't find that in Python's documentation" in got["text"]


@pytest.mark.parametrize(
    ("text", "language", "words"),
    [
        ("¿qué es una lista?", "Spanish", "list"),
        ("Qu'est-ce qu'un dictionnaire ?", "French", "dictionar"),
        ("Was ist eine Liste?", "German", "list"),
    ],
)
def test_questions_in_other_languages_get_a_real_answer_in_english_and_say_so(
    mesh, student, text, language, words
):
    got = answer_to(mesh, student, ask(mesh, student, {"text": text}))
    assert got["agent"] == "concepts" and got["triage"]["route"] == "ROUTE_CONCEPT"
    assert f"in {language}" in got["text"] and "only answer in English" in got["text"]
    assert words in got["text"].lower() and got["sources"]


def test_just_give_me_the_answer_without_code_climbs_the_conversations_ladder(mesh):
    pupil = new_student(mesh)
    first_q = ask(mesh, pupil, {"text": "why does my loop never end?", "code": LOOP})
    first = answer_to(mesh, pupil, first_q)
    assert first["hint"]["rung"] == "HINT_RUNG_LOCATE"
    conversation = first_q["conversationId"]
    second_q = ask(mesh, pupil, {"text": "just give me the answer", "conversationId": conversation})
    second = answer_to(mesh, pupil, second_q)
    assert second["agent"] == "debug", second
    assert second["hint"]["rung"] == "HINT_RUNG_EXPLAIN"  # one rung up, never straight to the fix
    assert second["hint"]["problemKey"] == first["hint"]["problemKey"]
    assert "follows up" in second["triage"]["reason"]
    third_q = ask(mesh, pupil, {"text": "dame la respuesta", "conversationId": conversation})
    third = answer_to(mesh, pupil, third_q)
    assert third["hint"]["rung"] == "HINT_RUNG_FIX" and "i += 1" in third["code"]
