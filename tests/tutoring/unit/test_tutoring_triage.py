"""triage.classify: routes, confidence that reflects agreeing signals, reasons and topics."""

import pytest

from services.tutoring.domain.chat import Author, ChatMessage, Routing, earlier_of
from services.tutoring.domain.language import Reading, read
from services.tutoring.domain.source import MAX_INPUT_CHARS
from services.tutoring.domain.topics import TOPICS, detect_topic, vocabulary_weight
from services.tutoring.domain.triage import Earlier, Route, Triage, classify

LOOP = "i = 0\nwhile i < 10:\n    print(i)\n"
NAME_ERROR = (
    "Traceback (most recent call last):\n"
    '  File "main.py", line 1, in <module>\n'
    "NameError: name 'pritn' is not defined\n"
)
DOUBLE = "def double(x):\n    return x * 2\n"


def test_the_loop_that_never_ends_is_a_debug_request_about_loops():
    t = classify("why does my loop never end?", LOOP)
    assert (t.route, t.topic) == (Route.DEBUG, "loops")
    assert t.confidence >= 0.6  # no model needed
    assert "never end" in t.reason and "code" in t.reason


@pytest.mark.parametrize(
    ("text", "code", "error", "route", "topic"),
    [
        ("", "pritn('hi')", NAME_ERROR, Route.DEBUG, "variables"),
        (NAME_ERROR, "", "", Route.DEBUG, "exceptions"),
        ("ZeroDivisionError: division by zero", "", "", Route.DEBUG, "exceptions"),
        ("my code prints the wrong output", "x = 1\nprint(x + 1)\n", "", Route.DEBUG, "variables"),
        ("it doesn't work", "nums = [1, 2]\nprint(nums[2])\n", "", Route.DEBUG, "lists"),
        ("can you review my code?", DOUBLE, "", Route.CODE_REVIEW, "functions"),
        ("is this good?", DOUBLE, "", Route.CODE_REVIEW, "functions"),
        (
            "How could I improve this?\n```python\nfor i in range(len(xs)):\n    print(xs[i])\n```",
            "",
            "",
            Route.CODE_REVIEW,
            "loops",
        ),
        ("give me a practice problem on loops", "", "", Route.EXERCISE, "loops"),
        ("I want a challenge with dictionaries", "", "", Route.EXERCISE, "dicts"),
        ("what is a list comprehension?", "", "", Route.CONCEPT, "comprehensions"),
        ("explain the difference between a list and a tuple", "", "", Route.CONCEPT, "lists"),
        ("how does a for loop work", "", "", Route.CONCEPT, "loops"),
        ("what does the return statement do", "", "", Route.CONCEPT, "functions"),
        ("explain recursion", "", "", Route.CONCEPT, "recursion"),
        ("what does this do?", "squares = [n * n for n in range(5)]\n", "", Route.CONCEPT, "comprehensions"),
        ("what is the capital of France?", "", "", Route.OFF_TOPIC, ""),
        ("what should I cook for dinner tonight", "", "", Route.OFF_TOPIC, ""),
        ("", "", "", Route.UNCLEAR, ""),
        ("   \n\t", "", "", Route.UNCLEAR, ""),
        ("asdfghjkl", "", "", Route.UNCLEAR, ""),
        ("?!?! ...", "", "", Route.UNCLEAR, ""),
        ("hi", "", "", Route.UNCLEAR, ""),
        ("help please", "", "", Route.UNCLEAR, ""),
    ],
)
def test_routes(text, code, error, route, topic):
    t = classify(text, code, error)
    assert (t.route, t.topic) == (route, topic), t


def test_reasons_quote_what_was_seen():
    assert classify("", "x", NAME_ERROR).reason.startswith("a traceback is attached (NameError)")
    assert classify("what is a list comprehension?").reason == "asks 'what is a list comprehension'"
    assert classify("what is the capital of France?").reason == "no Python terms, code or error"


def test_confidence_grows_with_agreeing_signals():
    one = classify("I get an error").confidence  # a debug word, nothing else
    two = classify("I get an error", LOOP).confidence  # ... with code
    three = classify("I get an error", LOOP, NAME_ERROR).confidence  # ... and the traceback
    assert one < 0.6 <= two < three <= 0.95


def test_conflicting_signals_lower_confidence():
    clear = classify("can you review my code?", DOUBLE)
    mixed = classify("explain why my loop never ends, and review it", LOOP)
    assert mixed.confidence < clear.confidence


def test_weak_words_alone_are_not_python():
    assert vocabulary_weight("what should I cook for dinner") < 2
    assert vocabulary_weight("how does a for loop work") >= 2


def test_empty_is_certain_and_gibberish_fairly_sure():
    assert classify("").confidence == 0.95
    assert classify("asdfghjkl").confidence == 0.7
    assert classify("qwerty uiop").confidence < 0.6


def test_code_only_is_a_low_confidence_review():
    t = classify("", DOUBLE)
    assert t.route == Route.CODE_REVIEW and t.confidence < 0.6


def test_topics_are_from_the_shared_vocabulary():
    assert set(TOPICS) >= {
        "loops", "functions", "lists", "dicts", "strings", "recursion", "classes", "exceptions",
        "comprehensions", "variables", "conditionals", "files", "modules",
    }  # fmt: skip
    for text in (
        "what is a class",
        "how do I open a file",
        "how do I import a module",
        "what is an f-string",
    ):
        assert classify(text).topic in TOPICS


def test_topic_from_code_and_error_when_the_text_names_none():
    import ast

    assert detect_topic("help", ast.parse("d = {}\nprint(d['k'])")) == "dicts"
    assert detect_topic("", None, "RecursionError") == "recursion"
    assert detect_topic("nothing here") == ""


def test_route_values_are_the_wire_names():
    assert [r.value for r in Route] == ["concept", "debug", "code_review", "exercise", "off_topic", "unclear"]


def test_deterministic_and_bounded():
    t = classify("why does my loop never end?", LOOP)
    assert t == classify("why does my loop never end?", LOOP)
    assert isinstance(t, Triage) and 0.0 <= t.confidence <= 1.0


def test_huge_inputs_are_capped():
    t = classify(
        "what is a loop? " * (MAX_INPUT_CHARS // 4), "x = 1\n" * MAX_INPUT_CHARS, "E" * MAX_INPUT_CHARS
    )
    assert isinstance(t, Triage)


# --- other languages, the language's wider vocabulary, follow-ups ---------------------------------


@pytest.mark.parametrize(
    ("text", "language", "topic"),
    [
        ("¿qué es una lista?", "es", "lists"),
        ("¿Cómo funciona un bucle for?", "es", "loops"),
        ("Qu'est-ce qu'un dictionnaire ?", "fr", "dicts"),
        ("Comment fonctionne une boucle while ?", "fr", "loops"),
        ("Was ist eine Liste?", "de", "lists"),
        ("Wie funktioniert eine for-Schleife?", "de", "loops"),
        ("Erkläre mir Dekoratoren", "de", ""),
    ],
)
def test_questions_in_spanish_french_and_german_are_concept_questions(text, language, topic):
    t = classify(text)
    assert (t.route, t.language, t.topic) == (Route.CONCEPT, language, topic), t


def test_english_is_read_as_it_is():
    assert classify("what is a list?").language == "en"
    assert classify("what is the capital of France?").language == "en"


@pytest.mark.parametrize(
    "text",
    [
        "how do decorators work in python?",
        "explain generators and yield",
        "what does zip() do",
        "what is a closure",
    ],
)
def test_the_languages_own_vocabulary_is_python(text):
    assert classify(text).route == Route.CONCEPT


def test_a_follow_up_without_code_continues_the_conversations_problem():
    earlier = Earlier(Route.DEBUG, LOOP, "")
    for text in ("just give me the answer", "another hint please", "why?", "dame la respuesta"):
        t = classify(text, earlier=earlier)
        assert (t.route, t.topic, t.earlier_code) == (Route.DEBUG, "loops", True), (text, t)
        assert "follows up" in t.reason
    # Without the conversation, the same words are no debug request.
    assert classify("just give me the answer").route != Route.DEBUG


def test_an_acknowledgement_or_a_new_question_is_not_a_follow_up():
    earlier = Earlier(Route.DEBUG, LOOP, "")
    assert classify("ok", earlier=earlier).route == Route.UNCLEAR
    assert classify("what is a dictionary?", earlier=earlier).route == Route.CONCEPT
    assert classify("can you review it?", earlier=earlier).route == Route.CODE_REVIEW
    # Code sent with the message wins over the conversation's.
    t = classify("it doesn't work", DOUBLE, earlier=earlier)
    assert not t.earlier_code and t.topic == "functions"


def test_the_earlier_context_is_the_latest_agent_route_and_the_latest_code():
    def student(text="", code="", route=None):
        return ChatMessage(author=Author.STUDENT, text=text, code=code, triage=Routing(route=route))

    history = [  # newest first
        student("ok", route=Route.UNCLEAR),
        ChatMessage(author=Author.TUTOR, text="Look at line 2.", code="x = 1\n"),
        student("why does my loop never end?", LOOP, Route.DEBUG),
        student("review this", DOUBLE, Route.CODE_REVIEW),
    ]
    assert earlier_of(history) == Earlier(Route.DEBUG, LOOP, "")
    assert earlier_of([]) == Earlier()


@pytest.mark.parametrize(
    ("text", "language", "english"),
    [
        ("¿Cómo funcionan los decoradores en Python?", "es", "how does work decorator python?"),
        ("Qu'est-ce qu'un dictionnaire ?", "fr", "what is a dictionary ?"),
        ("Wie funktioniert eine for-Schleife?", "de", "how does work for loop?"),
        ("What is a list?", "en", "What is a list?"),
    ],
)
def test_other_languages_are_glossed_into_english_for_the_rules(text, language, english):
    assert read(text) == Reading(language, english)
