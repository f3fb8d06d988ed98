"""What the agents say when they answer themselves, and what they ask a model. The prompts carry
the offline grounding (the documentation excerpt, the diagnosis, the review's findings) so a model
rephrases and adapts it rather than inventing; in hint mode they forbid the solution, and the
server checks the answer anyway (agents.Agents.phrase)."""

from __future__ import annotations

from services.tutoring.domain import concepts, exercises
from services.tutoring.domain import debug as debug_model
from services.tutoring.domain import review as review_model
from services.tutoring.domain.chat import TutoringRequest
from services.tutoring.domain.triage import Route

TUTOR = (
    "You are a patient Python tutor for students learning to program. Be brief, concrete and kind. "
    "Use only the material given to you; do not invent APIs."
)

GRACEFUL = {
    Route.OFF_TOPIC: (
        "I'm your Python tutor, so I can help with Python questions, errors in your code, reviews of "
        'your code and practice exercises. Try asking, for example, "What is a list comprehension?" '
        "or paste the error you get together with your code."
    ),
    Route.UNCLEAR: (
        "I didn't catch a question there. You can ask about a Python concept (\"how does a for loop "
        'work?"), paste an error together with your code, send code for a review, or ask for a '
        "practice exercise on a topic such as loops or strings."
    ),
}

NO_CONCEPT = (
    "I couldn't tell which Python concept you mean. I can explain things like variables, if "
    "statements, for and while loops, functions, lists, dictionaries, strings, exceptions and "
    "classes. Which one would you like to look at?"
)
NO_SANDBOX = (
    "I can't prepare an exercise right now: exercises are checked in the code sandbox before you "
    "see them, and it isn't reachable. Please try again in a little while."
)
GAVE_UP = (
    "Sorry, I couldn't work on that just now: a part of the tutor I need is not answering. Please ask "
    "again in a minute."
)
NO_VALID_EXERCISE = (
    "I couldn't prepare an exercise that passed its own checks this time. Please try another topic "
    "or difficulty."
)


def _user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def _system(text: str) -> dict[str, str]:
    return {"role": "system", "content": text}


def triage(request: TutoringRequest) -> list[dict[str, str]]:
    return [
        _system(
            "Classify a student's message to a Python tutor. Answer with exactly one word: concept, "
            "debug, code_review, exercise, off_topic or unclear."
        ),
        _user(
            f"Message: {request.text}\nCode attached: {'yes' if request.code else 'no'}\n"
            f"Error attached: {request.error[:500]}"
        ),
    ]


def concept(request: TutoringRequest, explanation: concepts.Explanation, level: str) -> list[dict[str, str]]:
    sources = "; ".join(s.ref for s in explanation.sources)
    return [
        _system(
            f"{TUTOR} The student's mastery of this topic is '{level}': for new or attempted, use plain "
            "words and one small example; for proficient or mastered, be precise and mention edge cases."
        ),
        _user(
            f"Question: {request.text}\n\nReference material (from Python's documentation: {sources}):\n"
            f"{explanation.text}\n\nExample:\n{explanation.example}\n\nExplain, citing the reference."
        ),
    ]


def debug(request: TutoringRequest, diagnosis: debug_model.Diagnosis, rung: int) -> list[dict[str, str]]:
    steps = {
        1: "Say only WHERE to look (the line or construct). Do not say what is wrong. No code.",
        2: "Say WHAT is wrong and which concept is involved, without giving the fix. No code.",
        3: "Explain HOW to fix it; you may show the corrected lines.",
    }
    return [
        _system(f"{TUTOR} You give hints before solutions. {steps[rung]}"),
        _user(
            f"Student's message: {request.text}\n\nCode:\n{request.code}\n\nError:\n{request.error}\n\n"
            f"Diagnosis (for you): cause={diagnosis.cause}, line={diagnosis.line}, "
            f"type={diagnosis.exception_type or 'none'}.\nThe hint to give, in your own words: "
            f"{(*diagnosis.hints, diagnosis.fix)[rung - 1]}"
        ),
    ]


def review_text(result: review_model.Review) -> str:
    lines = [result.summary]
    for c in result.comments:
        where = f"Line {c.line}" if c.line else "Overall"
        lines.append(f"- {where} ({c.kind}): {c.message}" + (f" {c.suggestion}" if c.suggestion else ""))
    lines.append(f"Quality: {result.quality:.2f} out of 1.")
    return "\n".join(lines)


def review(request: TutoringRequest, result: review_model.Review) -> list[dict[str, str]]:
    return [
        _system(f"{TUTOR} Review the code: correctness first, then style. Refer to line numbers."),
        _user(
            f"Code:\n{request.code}\n\nFindings of the static analysis and the run:\n{review_text(result)}"
        ),
    ]


def exercise_text(generated: exercises.GeneratedExercise) -> str:
    return (
        f"{generated.title}\n\n{generated.prompt}\n\nStart from the code below, then submit it for "
        "grading. Some test cases are hidden."
    )


def exercise(generated: exercises.GeneratedExercise) -> list[dict[str, str]]:
    return [
        _system(
            f"{TUTOR} Introduce this exercise in two or three encouraging sentences. Never show a solution."
        ),
        _user(exercise_text(generated)),
    ]
