"""The sandbox's domain: exercises and their test cases, the limits a caller may ask for, comparing
output and scoring. Pure logic: no gRPC, SQLAlchemy or NATS (the isolation itself is engine.py)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from services.runtime.errors import PermissionDenied, Violations
from services.runtime.request_context import Principal
from services.sandbox.diagnosis import Diagnosis, Verdict
from services.sandbox.engine import RunResult

STDIO = "stdio"
ASSERT = "assert"
MAX_CODE_BYTES = 64 * 1024
MAX_CASES = 50
AUTHORS = frozenset({"teacher", "admin", "service"})


@dataclass(frozen=True)
class TestCase:
    name: str
    kind: str
    stdin: str = ""
    expected_stdout: str = ""
    code: str = ""
    hidden: bool = False


def case_labels(cases: tuple[TestCase, ...]) -> tuple[str, ...]:
    """What a grade calls each case: a visible case by its name, a hidden one as "hidden case 2" (its
    position among the hidden cases). An author's name often states the input ("n = 32"), so it would
    hand a hidden case's content to the student."""
    labels: list[str] = []
    hidden = 0
    for case in cases:
        if case.hidden:
            hidden += 1
            labels.append(f"hidden case {hidden}")
        else:
            labels.append(case.name)
    return tuple(labels)


@dataclass(frozen=True)
class Exercise:
    id: str
    tenant_id: str
    title: str
    prompt: str
    topic: str
    test_cases: tuple[TestCase, ...]
    created_at: datetime | None = None
    withheld: int = 0  # hidden cases left out of test_cases for this reader (seen_by)

    def seen_by(self, caller: Principal) -> Exercise:
        """Authors see every case; everyone else sees the visible ones only (and how many are hidden)."""
        if caller.has_any(*AUTHORS):
            return self
        return Exercise(
            self.id,
            self.tenant_id,
            self.title,
            self.prompt,
            self.topic,
            tuple(c for c in self.test_cases if not c.hidden),
            self.created_at,
            withheld=self.hidden_count,
        )

    @property
    def hidden_count(self) -> int:
        return sum(1 for c in self.test_cases if c.hidden) + self.withheld


@dataclass(frozen=True)
class Execution:
    """One Execute call's run, as the caller gets it back."""

    id: str
    result: RunResult
    created_at: datetime


@dataclass(frozen=True)
class RunRecord:
    """A run as it is recorded and announced (sandbox.executed): one Execute, or one graded
    submission (its first failing case's verdict and diagnosis). No test's text or location."""

    execution_id: str
    tenant_id: str
    user_id: str
    exercise_id: str  # "" when the code ran outside an exercise
    verdict: Verdict
    diagnosis: Diagnosis | None
    duration_ms: int
    occurred_at: datetime


@dataclass(frozen=True)
class CaseOutcome:
    name: str
    passed: bool
    hidden: bool
    verdict: Verdict
    first_difference: str
    duration_ms: int


@dataclass(frozen=True)
class GradeResult:
    submission_id: str
    passed: int
    total: int
    cases: tuple[CaseOutcome, ...]

    @property
    def score(self) -> float:
        return self.passed / self.total if self.total else 0.0


@dataclass(frozen=True)
class RequestedLimits:
    wall_time_ms: int = 0
    memory_mb: int = 0
    output_bytes: int = 0


DEFAULT_WALL_MS, MAX_WALL_MS = 5000, 10_000
DEFAULT_MEMORY_MB, MAX_MEMORY_MB = 50, 256
DEFAULT_OUTPUT, MAX_OUTPUT = 64 * 1024, 1 << 20


@dataclass(frozen=True)
class EffectiveLimits:
    wall_ms: int
    memory_mb: int
    output_bytes: int


def effective_limits(requested: RequestedLimits, v: Violations, path: str = "limits") -> EffectiveLimits:
    """Zero means the default; negative or above the maximum is a field violation."""

    def pick(value: int, default: int, maximum: int, name: str) -> int:
        if value < 0 or value > maximum:
            v.add(f"{path}.{name}", f"must be between 1 and {maximum} (0 for the default {default})")
            return default
        return value or default

    return EffectiveLimits(
        wall_ms=pick(requested.wall_time_ms, DEFAULT_WALL_MS, MAX_WALL_MS, "wall_time_ms"),
        memory_mb=pick(requested.memory_mb, DEFAULT_MEMORY_MB, MAX_MEMORY_MB, "memory_mb"),
        output_bytes=pick(requested.output_bytes, DEFAULT_OUTPUT, MAX_OUTPUT, "output_bytes"),
    )


def check_code(v: Violations, code: str, path: str = "code") -> None:
    if not code.strip():
        v.add(path, "is required")
    elif len(code.encode()) > MAX_CODE_BYTES:
        v.add(path, f"must be at most {MAX_CODE_BYTES} bytes")


def check_exercise(v: Violations, title: str, cases: tuple[TestCase, ...]) -> None:
    if not title.strip():
        v.add("exercise.title", "is required")
    if not cases:
        v.add("exercise.test_cases", "at least one test case is required")
    if len(cases) > MAX_CASES:
        v.add("exercise.test_cases", f"at most {MAX_CASES} test cases")
    names: set[str] = set()
    for i, case in enumerate(cases):
        at = f"exercise.test_cases[{i}]"
        if not case.name.strip():
            v.add(f"{at}.name", "is required")
        elif case.name in names:
            v.add(f"{at}.name", f"{case.name!r} is used twice")
        names.add(case.name)
        if case.kind == STDIO:
            if not case.expected_stdout:
                v.add(f"{at}.expected_stdout", "is required for a stdio case")
        elif case.kind == ASSERT:
            check_code(v, case.code, f"{at}.code")
        else:
            v.add(f"{at}.kind", "must be TEST_CASE_KIND_STDIO or TEST_CASE_KIND_ASSERT")


def on_behalf(caller: Principal, user_id: str) -> Principal:
    """A service may run code as one of its tenant's users (tutoring reviewing a student's code)."""
    if not user_id:
        return caller
    if not caller.has_any("service"):
        raise PermissionDenied("only services may run code on behalf of a user", reason="NOT_A_SERVICE")
    # The run is then the user's: their rate limit, their event; none of the service's roles.
    return replace(caller, subject=user_id, roles=frozenset())


def may_author(caller: Principal) -> None:
    if not caller.has_any(*AUTHORS):
        raise PermissionDenied("only teachers, admins and services create exercises", reason="NOT_AN_AUTHOR")


def normalize_output(text: str) -> list[str]:
    """Lines with trailing whitespace removed, and trailing empty lines dropped."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def first_difference(expected: str, actual: str) -> str:
    """'' when the outputs match (ignoring trailing whitespace), else where they first differ."""
    want, got = normalize_output(expected), normalize_output(actual)
    for i, (w, g) in enumerate(zip(want, got, strict=False), start=1):
        if w != g:
            return f"line {i}: expected {w!r}, got {g!r}"
    if len(want) > len(got):
        return f"line {len(got) + 1}: expected {want[len(got)]!r}, got end of output"
    if len(got) > len(want):
        return f"line {len(want) + 1}: unexpected extra output {got[len(want)]!r}"
    return ""


# The name a submission's frames carry in an assert case's tracebacks (no such file exists).
SOLUTION_FILE = "/work/solution.py"


def assert_program(submission: str, test_code: str) -> str:
    """The program an assert-style case runs: the submission executed as a module named `solution`
    (so its `if __name__ == "__main__":` block does not run, as when a test imports it), its names
    brought into scope, then the test's assertions. Tracebacks show the submission's own frames as
    SOLUTION_FILE with the submission's line numbers."""
    return (
        "import types as _types\n"
        "_solution = _types.ModuleType('solution')\n"
        f"exec(compile({submission!r}, {SOLUTION_FILE!r}, 'exec'), vars(_solution))\n"
        "globals().update({k: v for k, v in vars(_solution).items() if not k.startswith('__')})\n"
        "del _types, _solution\n"
        "# --- test ---\n"
        f"{test_code}\n"
    )
