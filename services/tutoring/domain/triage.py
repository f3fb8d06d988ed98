"""Triage: which agent should answer a student's message, decided by explainable rules.

    classify(text, code, error) -> Triage(route, confidence, reason, topic)

Each route collects signals, each worth a weight:

    DEBUG        an error or traceback is attached or pasted (2); the message names an exception (1.5);
                 it says something is wrong — "error", "bug", "never ends", "doesn't work", "wrong
                 output" (1); code is attached to such a message or error (1)
    CODE_REVIEW  asks for a review — "review", "feedback", "is this good", "improve" (1.5); with code (1)
    EXERCISE     asks for practice — "exercise", "practice", "challenge", "give me a problem" (2); names
                 a topic (0.5)
    CONCEPT      asks a question — "what is", "explain", "how does", "difference between" — about
                 Python vocabulary, or about attached code when nothing else matched (2); Python
                 vocabulary and nothing else (0.5)
    OFF_TOPIC    ordinary words, but no Python vocabulary, code or error (1, or 2 from three words on)

The route with the highest score wins (ties in the order above: a message with a traceback is a debug
request even if it also asks "what is"). Confidence says how much the signals agree:

    confidence = clamp(0.35 + 0.2 * best - 0.15 * runner_up, 0.05, 0.95)

so one weak signal gives 0.55, two agreeing signals 0.75, and a close second place pulls it down. The
caller asks a language model when confidence < 0.6, and for every OFF_TOPIC or UNCLEAR verdict on a
non-empty message (a word missing from our lists must not turn a question away when a model can judge
it). An empty message is UNCLEAR (0.95); so are gibberish and a bare greeting or "help" (0.5 to 0.7).

**Other languages.** A message in Spanish, French or German is read through its English gloss
(language.read): "¿qué es una lista?" is classified as "what is a list?". Triage.language says which.

**Follow-ups.** A message without code in an ongoing conversation is read with `earlier`: the
conversation's last route and the last code (and error) the student sent. The earlier code counts as
attached, and a follow-up ("just give me the answer", "another hint", "I still don't get it") or a
"why?" goes the earlier route; a message that only acknowledges ("ok, thanks") is not a request
about the earlier code:

    FOLLOW-UP    asks to go on — "the answer", "another hint", "the fix", "still", "why?" (2)
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, replace

from services.tutoring.domain import language, tracebacks
from services.tutoring.domain.source import cap, parse
from services.tutoring.domain.topics import (
    VOCABULARY_THRESHOLD,
    detect_topic,
    python_terms,
    vocabulary_weight,
)


class Route(enum.StrEnum):
    CONCEPT = "concept"
    DEBUG = "debug"
    CODE_REVIEW = "code_review"
    EXERCISE = "exercise"
    OFF_TOPIC = "off_topic"
    UNCLEAR = "unclear"


@dataclass(frozen=True)
class Triage:
    route: Route
    confidence: float  # 0..1
    reason: str  # why, in words a teacher can read: "a traceback is attached (NameError)"
    topic: str  # a topic slug (topics.TOPICS), "" when unknown
    language: str = language.ENGLISH  # the message's language (language.NAMES)
    earlier_code: bool = False  # the code read was the conversation's earlier code (`earlier`)


@dataclass(frozen=True)
class Earlier:
    """What a conversation already holds: its last route, and the last code and error the student
    sent (what a follow-up without code is about)."""

    route: Route | None = None
    code: str = ""
    error: str = ""


_PRECEDENCE = (Route.DEBUG, Route.CODE_REVIEW, Route.EXERCISE, Route.CONCEPT, Route.OFF_TOPIC)

_DEBUG = re.compile(
    r"\b(errors?|exceptions?|traceback|bugs?|buggy|crash\w*|broken|fails?|failing|debug\w*)\b"
    r"|never (end|stop|finish)\w*|infinite|forever|\bstuck\b|\bhangs?\b|timed? ?out"
    r"|(doesn'?t|does not|don'?t|do not|won'?t|will not|isn'?t|is not|not|can'?t) "
    r"(work|run|stop|end|print|compile)\w*"
    r"|wrong (output|answer|result|value)s?|what'?s wrong|what is wrong|unexpected|instead of"
    r"|keeps? (printing|running|going|looping)|why (does|is|do|did)n'?t|\bfix\b",
    re.IGNORECASE,
)
_REVIEW = re.compile(
    r"\breview\b|\bfeedback\b|\bimprove\w*|\bbetter (way|version)|\bcleaner\b|more pythonic|\brefactor\w*"
    r"|best practices?|rate my|code quality|any suggestions|\bcritique\b"
    r"|(is|does) (this|my code|it|my solution) (look )?"
    r"(good|ok|okay|fine|clean|pythonic|efficient|correct|right)",
    re.IGNORECASE,
)
_EXERCISE = re.compile(
    r"\bexercises?\b|\bpractice\b|\bpractise\b|\bchallenges?\b|quiz me|something to (solve|practice|try)"
    r"|(give|send|show) me (a|an|another|some|one more) (\w+ ){0,2}"
    r"(problems?|tasks?|exercises?|questions?|puzzles?)"
    r"|problems? to solve|\banother one\b",
    re.IGNORECASE,
)
_QUESTION = re.compile(
    r"\bwhat (is|are|does|do)\b(?! wrong)|\bwhat'?s\b(?! wrong)|\bexplain\w*|\bhow (does|do|can|to|is)\b"
    r"|difference between|\bmeaning of\b|when (should|do|would) (i|you|we)"
    r"|why (do|would) (we|you|i) (use|need)"
    r"|\bwhat'?s the point of|tell me about|\bdefine\b|\bdefinition\b|teach me|\bwhy is\b|\bwhat happens\b",
    re.IGNORECASE,
)
_FOLLOW_UP = re.compile(
    r"\b(the|an?|your) (answer|solution|fix)\b"
    r"|\b(another|next|one more|more|a better|further) (hint|clue|tip)s?\b"
    r"|\bjust (tell|give|show)\b|\bstill\b|\bdon'?t (get|understand) (it|that)\b"
    r"|\bi'?m (still )?(lost|confused)\b|^\W*(why|how|what do you mean|what does that mean|huh|really)\W*$"
    r"|\bwhat now\b|\bthen what\b|\bgo on\b|\bkeep going\b|\band then\b|\bshow me\b|\bhow do i fix\b",
    re.IGNORECASE,
)
_MENTIONED_EXCEPTION = re.compile(r"\b([A-Z]\w*(?:Error|Exception))\b")
_FENCE = re.compile(r"```[\w+-]*\n(.*?)(?:```|\Z)", re.DOTALL)
_CODE_LINE = re.compile(
    r"^\s*(def |class |for .+:|while .+:|if .+:|print\(|import |from \w+ import |return\b|\w+ ?[+\-*/]?= ?\S)"
)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
# Words that carry no request on their own.
_FILLER_WORDS = (
    "hi hello hey hiya yo thanks thank you thx ok okay please help me pls plz sos good morning evening "
    "afternoon there sir miss teacher bye"
)
_FILLER = frozenset(_FILLER_WORDS.split())
_COMMON_WORDS = (
    "a an the i you he she it we they my your our their me him her us them this that these those is are was "
    "were be been am do does did have has had can could will would should may might must what why how when "
    "where who which whose of to in on at for with about from by as and or but not no yes so if then than "
    "too very just also some any all more most much many one two three tell know think like want need make "
    "get go see say give best good bad new old day time year people way thing world life love weather food "
    "dinner lunch cook movie music game play song football capital city country name favorite favourite "
    "today tomorrow yesterday homework school class math history question answer write story joke"
)
_COMMON = _FILLER | frozenset(_COMMON_WORDS.split())


def classify(text: str, code: str = "", error: str = "", earlier: Earlier | None = None) -> Triage:
    text, code, error = cap(text), cap(code), cap(error)
    if not code.strip():
        code = _code_in(text)
    text = _prose(text)  # the words of the message: code pasted in it is not what the student says
    reading = language.read(text)
    text = reading.english
    from_earlier = False
    if earlier is not None and not code.strip() and not error.strip() and earlier.code.strip():
        code, error, from_earlier = cap(earlier.code), cap(earlier.error), True
    decided = _classify(text, code, error, earlier.route if earlier else None, from_earlier)
    return replace(decided, language=reading.language, earlier_code=from_earlier)


def _classify(text: str, code: str, error: str, earlier: Route | None, from_earlier: bool) -> Triage:
    if not (text.strip() or code.strip() or error.strip()):
        return Triage(Route.UNCLEAR, 0.95, "the message is empty", "")
    parsed = tracebacks.parse(error) if error.strip() else None
    pasted = tracebacks.parse(text) if "Traceback (most recent call last)" in text or parsed is None else None
    found_error = parsed or pasted
    mentioned = _MENTIONED_EXCEPTION.search(text)
    exception_type = found_error.exception_type if found_error else mentioned.group(1) if mentioned else ""
    has_code = bool(code.strip())
    tree = parse(code) if has_code else None
    topic = detect_topic(text, tree, exception_type)

    scores: dict[Route, float] = dict.fromkeys(_PRECEDENCE, 0.0)
    reasons: dict[Route, list[str]] = {route: [] for route in _PRECEDENCE}

    def signal(route: Route, weight: float, reason: str) -> None:
        scores[route] += weight
        reasons[route].append(reason)

    debug_words = _DEBUG.search(text)
    if found_error is not None:
        what = "a traceback" if found_error.frames else "an error"
        where = "is attached" if parsed is not None else "is pasted in the message"
        signal(Route.DEBUG, 2, f"{what} {where} ({found_error.exception_type})")
    elif error.strip():
        signal(Route.DEBUG, 2, "error output is attached")
    elif mentioned:
        signal(Route.DEBUG, 1.5, f"mentions {mentioned.group(1)}")
    if debug_words:
        signal(Route.DEBUG, 1, f"says {_quote(debug_words.group(0))}")
    if has_code and (debug_words or scores[Route.DEBUG]):
        signal(Route.DEBUG, 1, "the conversation's code" if from_earlier else "code is attached")

    review = _REVIEW.search(text)
    if review:
        signal(Route.CODE_REVIEW, 1.5, f"asks for {_quote(review.group(0))}")
        if has_code:
            signal(Route.CODE_REVIEW, 1, "code is attached")

    exercise = _EXERCISE.search(text)
    vocabulary = vocabulary_weight(text)
    terms = python_terms(text)
    about_python = vocabulary >= VOCABULARY_THRESHOLD
    if exercise:
        signal(Route.EXERCISE, 2, f"asks for {_quote(exercise.group(0))}")
        if topic:
            signal(Route.EXERCISE, 0.5, f"on {topic}")

    question = _QUESTION.search(text)
    # A question about attached code without Python words ("what does this do?") is a concept question
    # only when nothing else claims it ("how do I improve this?" is a review).
    if question and (about_python or (has_code and not any(scores.values()))):
        signal(Route.CONCEPT, 2, f"asks {_quote(_clause(text, question.start()))}")

    words = [w.lower() for w in _WORD.findall(text)]
    known = [w for w in words if w in _COMMON]
    follow_up = _FOLLOW_UP.search(text)
    if earlier in _PRECEDENCE and earlier != Route.OFF_TOPIC and follow_up:
        signal(earlier, 2, f"follows up on the conversation ({_quote(follow_up.group(0))})")
    if not any(scores.values()):
        if has_code and not from_earlier:  # the conversation's code alone is no request ("ok, thanks")
            signal(Route.CODE_REVIEW, 1, "only code, with no question")
        elif not words or (not known and not terms):
            confidence = 0.7 if not any(_looks_like_word(w) for w in words) else 0.5
            return Triage(Route.UNCLEAR, confidence, "the message has no recognisable words", "")
        elif all(w in _FILLER for w in words):
            return Triage(Route.UNCLEAR, 0.6, "only a greeting or a plea for help, no question yet", topic)
        elif about_python:
            signal(Route.CONCEPT, 0.5, f"mentions Python terms ({', '.join(terms[:3])}) but asks nothing")
        else:
            signal(Route.OFF_TOPIC, 2 if len(words) >= 3 else 1, "no Python terms, code or error")

    ranked = sorted(_PRECEDENCE, key=lambda r: (-scores[r], _PRECEDENCE.index(r)))
    best, second = ranked[0], ranked[1]
    if scores[best] == 0:
        return Triage(Route.UNCLEAR, 0.5, "no request recognised", topic)
    confidence = min(0.95, max(0.05, 0.35 + 0.2 * scores[best] - 0.15 * scores[second]))
    reason = "; ".join(reasons[best])
    if scores[second] > 0:
        reason += f" (but also {reasons[second][0]})"
    return Triage(best, round(confidence, 2), reason, "" if best == Route.OFF_TOPIC else topic)


def _code_in(text: str) -> str:
    """Code pasted into the message: fenced blocks, else two or more lines that look like code."""
    fenced = _FENCE.findall(text)
    if fenced:
        return "\n".join(fenced)
    lines = [line for line in text.splitlines() if _CODE_LINE.match(line)]
    return "\n".join(lines) if len(lines) >= 2 else ""


def _prose(text: str) -> str:
    without_fences = _FENCE.sub("\n", text)
    lines = without_fences.splitlines()
    code_lines = [line for line in lines if _CODE_LINE.match(line)]
    if len(code_lines) >= 2:
        lines = [line for line in lines if not _CODE_LINE.match(line)]
    return "\n".join(lines)


def _clause(text: str, start: int) -> str:
    """The words from `start` to the end of their sentence (at most 60 characters)."""
    end = re.search(r"[?.!\n]", text[start:])
    clause = text[start : start + end.start()] if end else text[start:]
    clause = " ".join(clause.split())
    return clause if len(clause) <= 60 else clause[:57].rsplit(" ", 1)[0] + "…"


def _quote(words: str) -> str:
    return f"'{' '.join(words.split()).lower()}'"


def _looks_like_word(word: str) -> bool:
    """A crude test for pronounceable letters: a vowel, and no run of five consonants ("asdfghjk")."""
    lowered = word.lower()
    return bool(re.search(r"[aeiouy]", lowered)) and not re.search(r"[^aeiouy]{5,}", lowered)
