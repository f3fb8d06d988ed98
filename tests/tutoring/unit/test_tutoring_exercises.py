"""exercises: the template bank, its variations, and reference solutions that pass their own cases."""

import subprocess
import sys

import pytest

from services.tutoring.domain.exercises import (
    Case,
    Difficulty,
    GeneratedExercise,
    generate,
    topics,
)

REQUIRED_TOPICS = {"loops", "conditionals", "strings", "lists", "functions", "dicts"}
VARIATIONS = range(5)
GRID = [(topic, difficulty) for topic in sorted(REQUIRED_TOPICS) for difficulty in Difficulty]


def normalised(output: str) -> list[str]:
    """Stdout as the sandbox compares it: trailing whitespace of each line (and trailing blank lines)
    ignored."""
    lines = [line.rstrip() for line in output.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def test_topics():
    assert set(topics()) >= REQUIRED_TOPICS
    assert topics() == sorted(topics())


@pytest.mark.parametrize(("topic", "difficulty"), GRID)
def test_every_topic_and_difficulty_has_a_template(topic, difficulty):
    exercise = generate(topic, difficulty, 0)
    assert isinstance(exercise, GeneratedExercise)
    assert (exercise.topic, exercise.difficulty, exercise.variation) == (topic, difficulty, 0)
    assert exercise.title and exercise.prompt and exercise.starter_code and exercise.reference_solution
    assert len(exercise.cases) >= 3
    assert any(case.hidden for case in exercise.cases) and any(not case.hidden for case in exercise.cases)
    assert len({case.name for case in exercise.cases}) == len(exercise.cases)
    compile(exercise.starter_code, "<starter>", "exec")


@pytest.mark.parametrize(("topic", "difficulty"), GRID)
def test_variations_differ_but_keep_the_template(topic, difficulty):
    exercises = [generate(topic, difficulty, v) for v in VARIATIONS]
    assert len({e.template_id for e in exercises}) == 1
    assert len({(e.prompt, e.cases) for e in exercises}) == len(exercises)
    assert len({e.reference_solution for e in exercises}) > 1 or len({e.cases for e in exercises}) == len(
        exercises
    )


@pytest.mark.parametrize(("topic", "difficulty"), GRID)
def test_deterministic(topic, difficulty):
    assert generate(topic, difficulty, 3) == generate(topic, difficulty, 3)
    assert generate(topic, difficulty.value, 1_000_003) == generate(topic, difficulty, 1_000_003)


@pytest.mark.parametrize(("topic", "difficulty"), GRID)
@pytest.mark.parametrize("variation", VARIATIONS)
def test_reference_solution_passes_its_own_cases(topic, difficulty, variation):
    exercise = generate(topic, difficulty, variation)
    for case in exercise.cases:
        run = subprocess.run(
            [sys.executable, "-c", exercise.reference_solution],
            input=case.stdin,
            capture_output=True,
            text=True,
            timeout=5,
        )
        assert run.returncode == 0, (case.name, run.stderr)
        assert normalised(run.stdout) == normalised(case.expected_stdout), case.name


def test_the_starter_code_is_not_the_solution():
    for topic, difficulty in GRID:
        exercise = generate(topic, difficulty, 0)
        assert exercise.starter_code != exercise.reference_solution


def test_expected_output_comes_from_the_parameters():
    first, second = generate("loops", Difficulty.EASY, 0), generate("loops", Difficulty.EASY, 1)
    assert first.title == "Multiples of 2" and second.title == "Multiples of 3"
    assert first.cases[0] == Case("n = 3", "3\n", "2\n4\n6\n", hidden=False)
    assert second.cases[0].expected_stdout == "3\n6\n9\n"


def test_caesar_prompt_and_cases_agree():
    exercise = generate("strings", Difficulty.HARD, 2)  # shift 3
    assert "shift of 3, `a` becomes `d` and `z` becomes `c`" in exercise.prompt
    assert exercise.cases[0] == Case("text 'hello world'", "hello world\n", "khoor zruog\n", hidden=False)


@pytest.mark.parametrize("topic", ["", "cooking", "LOOPS"])
def test_unknown_topic(topic):
    with pytest.raises(KeyError, match="known topics: conditionals, dicts"):
        generate(topic, Difficulty.EASY, 0)


@pytest.mark.parametrize("variation", [-1, 1.5, True, "2"])
def test_bad_variation(variation):
    with pytest.raises(ValueError, match="variation"):
        generate("loops", Difficulty.EASY, variation)


def test_bad_difficulty():
    with pytest.raises(ValueError, match="unknown difficulty 'impossible'"):
        generate("loops", "impossible", 0)


@pytest.mark.parametrize("topic", topics())
def test_every_case_prints_something_because_the_sandbox_refuses_empty_expected_output(topic):
    for difficulty in Difficulty:
        for variation in range(30):
            generated = generate(topic, difficulty, variation)
            assert all(case.expected_stdout for case in generated.cases), (topic, difficulty, variation)
            assert len(generated.cases) >= 3 and any(case.hidden for case in generated.cases)
