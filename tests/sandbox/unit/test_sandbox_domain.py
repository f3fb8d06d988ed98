import asyncio

import pytest

from services.runtime.errors import PermissionDenied, ResourceExhausted, Violations
from services.runtime.request_context import Principal
from services.sandbox import domain
from services.sandbox.domain import Exercise, RequestedLimits
from services.sandbox.domain import TestCase as Case


def test_first_difference_ignores_trailing_whitespace_and_names_the_line():
    assert domain.first_difference("42\n", "42   \n\n") == ""
    assert domain.first_difference("1\n2\n3\n", "1\n2\n4\n") == "line 3: expected '3', got '4'"
    assert domain.first_difference("1\n2\n", "1\n") == "line 2: expected '2', got end of output"
    assert domain.first_difference("1\n", "1\nextra\n") == "line 2: unexpected extra output 'extra'"


def test_limits_default_and_maxima():
    v = Violations()
    assert domain.effective_limits(RequestedLimits(), v) == domain.EffectiveLimits(5000, 50, 64 * 1024)
    assert domain.effective_limits(RequestedLimits(wall_time_ms=2000), v).wall_ms == 2000
    assert not v.items
    domain.effective_limits(RequestedLimits(wall_time_ms=10_001, memory_mb=-5, output_bytes=2 << 20), v)
    assert [i.field for i in v.items] == ["limits.wall_time_ms", "limits.memory_mb", "limits.output_bytes"]


def test_exercise_validation():
    v = Violations()
    domain.check_exercise(
        v,
        "",
        (
            Case("a", domain.STDIO),
            Case("a", domain.ASSERT, code=""),
            Case("", "weird"),
        ),
    )
    assert [i.field for i in v.items] == [
        "exercise.title",
        "exercise.test_cases[0].expected_stdout",
        "exercise.test_cases[1].name",
        "exercise.test_cases[1].code",
        "exercise.test_cases[2].name",
        "exercise.test_cases[2].kind",
    ]


def test_students_see_visible_cases_only_and_cannot_author():
    ex = Exercise(
        "e",
        "t",
        "T",
        "",
        "",
        (
            Case("v", domain.STDIO, expected_stdout="1"),
            Case("h", domain.ASSERT, code="assert 1", hidden=True),
        ),
    )
    student = Principal("s", "t", frozenset({"student"}))
    teacher = Principal("x", "t", frozenset({"teacher"}))
    assert [c.name for c in ex.seen_by(student).test_cases] == ["v"]
    assert [c.name for c in ex.seen_by(teacher).test_cases] == ["v", "h"]
    assert ex.hidden_count == 1
    with pytest.raises(PermissionDenied):
        domain.may_author(student)


def test_grades_name_hidden_cases_by_position_not_by_their_content():
    cases = (
        Case("reads 21", domain.STDIO, expected_stdout="42"),
        Case("n = 32", domain.ASSERT, code="assert f(32)", hidden=True),
        Case("double(2)", domain.ASSERT, code="assert double(2) == 4"),
        Case("n = -1", domain.ASSERT, code="assert f(-1)", hidden=True),
    )
    assert domain.case_labels(cases) == ("reads 21", "hidden case 1", "double(2)", "hidden case 2")


def test_pool_rejects_beyond_workers_plus_queue():
    from services.sandbox.engine import Limits, RunResult
    from services.sandbox.pool import ExecutionPool

    class Slow:
        async def run(self, code: str, stdin: str = "", limits: Limits = Limits()) -> RunResult:
            await asyncio.sleep(0.2)
            return None  # type: ignore[return-value]

    async def main():
        pool = ExecutionPool(Slow(), workers=1, queue=2)
        return await asyncio.gather(*(pool.run("x", "", Limits()) for _ in range(5)), return_exceptions=True)

    results = asyncio.run(main())
    assert sum(isinstance(r, ResourceExhausted) for r in results) == 2
