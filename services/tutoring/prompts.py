"""What the agents say when they answer themselves, and what they ask a model. The prompts carry
the offline grounding (the documentation excerpt, the diagnosis, the review's findings) so a model
rephrases and adapts it rather than inventing; in hint mode they forbid the solution, and the
server checks the answer anyway (agents.Agents.phrase)."""

from __future__ import annotations

from services.tutoring.domain import concepts, exercises, language
from services.tutoring.domain import debug as debug_model
from services.tutoring.domain import research as research_model
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
    "I couldn't find that in Python's documentation (I searched its language reference, the "
    "builtins and the standard library), so I can't answer it reliably. Could you name the Python "
    "feature, keyword or function you mean? For example: variables, for loops, functions, "
    "dictionaries, decorators, generators, `len()` or `itertools`."
)


def english_only(code: str) -> str:
    """Said before an offline answer to a question in another language."""
    name = language.NAMES.get(code, code)
    return (
        f"(I understood your question in {name}, but without a language model I can only answer in "
        "English.)\n\n"
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


def triage(request: TutoringRequest, earlier: str = "") -> list[dict[str, str]]:
    """`earlier`: the route the conversation took last ("debug"...), "" for a new conversation."""
    context = f"\nThe conversation so far was routed to: {earlier}" if earlier else ""
    return [
        _system(
            "Classify a student's message to a Python tutor (any language). Answer with exactly one "
            "word: concept, debug, code_review, exercise, off_topic or unclear. A question about Python, "
            "its language, library or tools is a concept; a follow-up asking for more help continues "
            "the conversation's route."
        ),
        _user(
            f"Message: {request.text}\nCode attached: {'yes' if request.code else 'no'}\n"
            f"Error attached: {request.error[:500]}{context}"
        ),
    ]


def concept(
    request: TutoringRequest, explanation: concepts.Explanation | None, level: str, lang: str = "en"
) -> list[dict[str, str]]:
    """The concept question with its grounding: the concept map's explanation, or the documentation's
    closest passages (quoted, with their refs), or — when nothing matched — the honest absence of
    any, so the model says when it is unsure."""
    system = (
        f"{TUTOR} The student's mastery of this topic is '{level}': for new or attempted, use plain "
        "words and one small example; for proficient or mastered, be precise and mention edge cases."
    )
    if lang != language.ENGLISH:
        system += f" The student wrote in {language.NAMES.get(lang, lang)}: answer in that language."
    code = f"\n\nThe student's code:\n{request.code}" if request.code.strip() else ""
    if explanation is None:
        material = (
            "No passage of Python's documentation matched this question. Answer only if it is about "
            "Python and you are sure; otherwise say you don't know."
        )
    else:
        sources = "; ".join(s.ref for s in explanation.sources)
        material = f"Reference material (from Python's documentation: {sources}):\n{explanation.text}"
        if explanation.example:
            material += f"\n\nExample:\n{explanation.example}"
        material += "\n\nExplain, citing the reference."
    return [_system(system), _user(f"Question: {request.text}{code}\n\n{material}")]


def research(topic: str, difficulty: str, grounded: research_model.Research) -> list[dict[str, str]]:
    """The research capability's prompt: the sources found offline, quoted with their refs, so the
    model writes the brief from them; the answer's format is what research.from_model reads."""
    material = "\n\n".join(f"[{s.ref}] {s.title}: {s.excerpt}" for s in grounded.sources if s.excerpt)
    if not material:
        material = "No passage of Python's documentation matched this topic."
    return [
        _system(
            f"{TUTOR} Write a research brief for a {difficulty or 'intermediate'} learner: one summary "
            f"paragraph, then a line '{research_model.KEY_POINTS_HEADING}' followed by three to six "
            "lines each starting with '- '. Use only the sources given; say so when they do not cover "
            "the topic."
        ),
        _user(f"Topic: {topic}\n\nSources (from Python's documentation):\n{material}"),
    ]


def analysis(topic: str, summary: str, key_points: str) -> list[dict[str, str]]:
    """The pipeline's analysis prompt: the brief itself is the material; the answer's format is what
    research.analysis_from_model reads."""
    return [
        _system(
            f"{TUTOR} Analyse a research brief for a teacher: answer with one line "
            f"'{research_model.HEADLINE} <a headline of at most 15 words>', then a line "
            f"'{research_model.TAKEAWAYS_HEADING}' followed by at most three lines each starting with '- '. "
            "Use only the brief."
        ),
        _user(f"Topic: {topic}\n\nSummary:\n{summary}\n\nKey points:\n{key_points}"),
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
