"""The isolation engine on its own: every abuse case against BubblewrapSandbox, then concurrency,
rejection, truncation, deadlines, cancellation and the service's own event loop (uvloop). Also the pure
verdict and traceback logic of diagnosis.py."""

import asyncio
import os
import time
from dataclasses import fields, replace

import abuse_cases as abuse_module
import pytest
import uvloop
from abuse_cases import (
    SECRET_ENV,
    SECRET_VALUE,
    AbuseCase,
    abuse_cases,
    assert_no_sandbox_processes,
    host_listener,
)

from services.sandbox import cgroups
from services.sandbox.diagnosis import Diagnosis, Verdict, check_syntax, diagnose, verdict_for
from services.sandbox.engine import (
    MAX_CODE_BYTES,
    MAX_LIMITS,
    BubblewrapSandbox,
    Limits,
    RunResult,
    UnsafeLocalSandbox,
    _run_memory_bytes,
)

UNAVAILABLE = BubblewrapSandbox.unavailable_reason()
pytestmark = pytest.mark.skipif(UNAVAILABLE is not None, reason=f"isolation unavailable: {UNAVAILABLE}")


@pytest.fixture(scope="module")
def sandbox() -> BubblewrapSandbox:
    return BubblewrapSandbox()


@pytest.fixture(scope="module", params=[False, True], ids=["full", "container-mode"])
def any_sandbox(request) -> BubblewrapSandbox:
    """Both configurations: the full one, and the one a Kubernetes pod allows (no /proc inside)."""
    return BubblewrapSandbox(container_mode=request.param)


@pytest.fixture(scope="module")
def listener():
    with host_listener() as s:
        yield s


@pytest.fixture(autouse=True)
def host_secret(monkeypatch):
    monkeypatch.setenv(SECRET_ENV, SECRET_VALUE)


DEFAULT = Limits()


def run(sandbox, code: str, stdin: str = "", limits: Limits = DEFAULT) -> RunResult:
    return asyncio.run(sandbox.run(code, stdin, limits))


def describe(r: RunResult) -> str:
    output = f"stdout={r.stdout[:300]!r} stderr={r.stderr[-600:]!r}"
    return f"{r.verdict} exit={r.exit_code} {r.duration_ms}ms {output}"


@pytest.mark.parametrize("name", [case.name for case in abuse_cases()])
def test_abuse_case(any_sandbox, listener, name, monkeypatch):
    sandbox = any_sandbox
    monkeypatch.setattr(abuse_module, "CONTAINER_MODE", sandbox.container_mode)
    case: AbuseCase = {c.name: c for c in abuse_cases(listener)}[name]
    if case.needs_whole_run_limits and sandbox.whole_run_limits is not None:
        pytest.skip(sandbox.whole_run_limits)
    result = run(sandbox, case.code, case.stdin)
    assert result.verdict == case.expected_verdict, describe(result)
    if case.check is not None:
        case.check(result)
    assert_no_sandbox_processes()
    assert run(sandbox, "print('alive')").stdout == "alive\n"  # the engine (and this process) survived


# --- whole-run limits (a cgroup per run) -------------------------------------------------------------------

CGROUPS, NO_CGROUP_REASON = cgroups.probe()
needs_cgroups = pytest.mark.skipif(CGROUPS is None, reason=f"no cgroup per run here: {NO_CGROUP_REASON}")


def run_leaves() -> list[str]:
    """The per-run cgroups of this process's engine that exist now (a finished run must leave none).
    A leaf's name carries the pid of the process that made it: another test process's runs (a parallel
    pytest worker) are its own to check."""
    assert CGROUPS is not None
    prefix = f"{cgroups.RUN_PREFIX_V1 if CGROUPS.version == 1 else 'run-'}{os.getpid()}-"
    roots = {CGROUPS.memory_root, CGROUPS.pids_root}
    return sorted(str(p) for root in roots for p in root.iterdir() if p.name.startswith(prefix))


@needs_cgroups
def test_a_run_is_measured_in_its_own_cgroup_which_is_then_removed(sandbox):
    assert sandbox.whole_run_limits is None
    result = run(sandbox, "print(1)")
    assert result.verdict == Verdict.OK and result.stdout == "1\n"
    # The run's own memory, not the service's: a few MiB (a wait4 rusage would report the service's).
    assert result.memory_peak_bytes is not None and 0 < result.memory_peak_bytes < 16 << 20
    assert run_leaves() == []


@needs_cgroups
def test_forked_allocations_peak_within_the_run_budget_and_concurrent_runs_each_get_one(sandbox):
    (case,) = [c for c in abuse_cases() if c.name == "forked_allocations"]

    async def main():
        return await asyncio.gather(*(sandbox.run(case.code) for _ in range(3)))

    for result in asyncio.run(main()):
        assert result.verdict == Verdict.MEMORY_EXCEEDED, describe(result)
        # At most one child of 45 MB fits in a run (the kernel may also have killed the one that held
        # it when another allocated, so 0 is possible too).
        assert result.stdout in ("held 0\n", "held 1\n"), describe(result)
        # Each run got past 45 MB at the same time as the others: one budget per run, not one shared.
        assert result.memory_peak_bytes is not None
        assert 45 << 20 < result.memory_peak_bytes <= _run_memory_bytes(DEFAULT), result.memory_peak_bytes
    assert run_leaves() == []
    assert_no_sandbox_processes()


@needs_cgroups
def test_a_timed_out_or_cancelled_run_leaves_no_cgroup(sandbox):
    loop = run(sandbox, "import os, time\nos.fork()\ntime.sleep(30)\n", limits=Limits(wall_ms=500))
    assert loop.verdict == Verdict.TIMED_OUT
    assert run_leaves() == []

    async def cancelled():
        task = asyncio.create_task(sandbox.run("import time\ntime.sleep(30)"))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.2)
        return await sandbox.run("print(2)")  # retries the removal a dying process may have delayed

    assert asyncio.run(cancelled()).stdout == "2\n"
    assert run_leaves() == []


def test_without_a_cgroup_per_run_the_limits_are_per_process_and_it_is_said():
    """The fallback, for hosts that give no cgroup: it still serves, but only each process is bounded,
    which is why the forked case needs whole-run limits; the reason is there for the log and health."""
    plain = BubblewrapSandbox(cgroups=None)
    assert plain.whole_run_limits is not None and "per process" in plain.whole_run_limits
    (case,) = [c for c in abuse_cases() if c.name == "forked_allocations"]
    result = run(plain, case.code)
    assert result.verdict == Verdict.OK and result.stdout == "held 15\n", describe(result)
    assert result.memory_peak_bytes is None
    assert_no_sandbox_processes()


def test_twenty_concurrent_runs_are_all_correct(sandbox):
    async def main():
        return await asyncio.gather(*(sandbox.run(f"print({i} * {i})") for i in range(20)))

    results = asyncio.run(main())
    assert [r.stdout for r in results] == [f"{i * i}\n" for i in range(20)]
    assert all(r.verdict == Verdict.OK for r in results)


def test_concurrent_runs_each_have_their_own_process_budget(sandbox):
    # RLIMIT_NPROC is applied inside each run's user namespace, so runs do not starve each other.
    code = (
        "import os, time\nn = 0\nfor _ in range(10):\n    if os.fork() == 0:\n        time.sleep(0.5)\n"
        "        os._exit(0)\n    n += 1\nprint(n)\n"
    )

    async def main():
        return await asyncio.gather(*(sandbox.run(code) for _ in range(4)))

    assert [r.stdout for r in asyncio.run(main())] == ["10\n"] * 4


@pytest.mark.parametrize("field", [f.name for f in fields(Limits)])
def test_limits_above_the_maximum_or_not_positive_are_rejected(sandbox, field):
    for value in (getattr(MAX_LIMITS, field) + 1, 0, -1):
        result = run(sandbox, "print(1)", limits=replace(Limits(), **{field: value}))
        assert result.verdict == Verdict.REJECTED, (field, value)
        assert result.diagnosis is not None and field in result.diagnosis.message
        assert result.stdout == "" and result.duration_ms == 0


def test_the_maximum_limits_themselves_are_accepted(sandbox):
    assert run(sandbox, "print(1)", limits=MAX_LIMITS).verdict == Verdict.OK


def test_huge_code_and_nul_bytes_are_rejected(sandbox):
    huge = run(sandbox, "x = 1\n" * (MAX_CODE_BYTES // 6 + 1))
    assert (
        huge.verdict == Verdict.REJECTED and huge.diagnosis is not None and "bytes" in huge.diagnosis.message
    )
    nul = run(sandbox, "print(1)\0")
    assert nul.verdict == Verdict.REJECTED and nul.diagnosis is not None and "NUL" in nul.diagnosis.message
    exactly = run(sandbox, "#" * (MAX_CODE_BYTES - 9) + "\nprint(1)")  # 64 KiB on the dot still runs
    assert exactly.verdict == Verdict.OK and exactly.stdout == "1\n"


def test_output_beyond_output_bytes_is_truncated_not_fatal(sandbox):
    big = run(sandbox, "print('x' * 100_000)\nimport sys\nprint('e' * 10, file=sys.stderr)")
    assert big.verdict == Verdict.OK, describe(big)
    assert big.stdout_truncated and big.stdout == "x" * Limits().output_bytes
    assert not big.stderr_truncated and big.stderr == "e" * 10 + "\n"
    small = run(sandbox, "print('é' * 10)", limits=Limits(output_bytes=5))
    assert small.stdout == "éé" and small.stdout_truncated  # the cut halves no character


def test_a_traceback_after_lots_of_stderr_is_still_diagnosed(sandbox):
    result = run(sandbox, "import sys\nsys.stderr.write('noise\\n' * 50_000)\n{}['missing']\n")
    assert result.verdict == Verdict.RUNTIME_ERROR and result.stderr_truncated
    assert result.diagnosis == Diagnosis("KeyError", "'missing'", 3, "{}['missing']")


@pytest.mark.parametrize(
    "code",
    [
        "while True:\n    pass\n",
        "import time\ntime.sleep(30)\n",
        "import os, time\nos.fork()\ntime.sleep(30)\n",
    ],
)
def test_timed_out_runs_end_within_300_ms_of_the_wall_limit(sandbox, code):
    began = time.monotonic()
    result = run(sandbox, code, limits=Limits(wall_ms=1000))
    took_ms = (time.monotonic() - began) * 1000
    assert result.verdict == Verdict.TIMED_OUT, describe(result)
    assert 1000 <= result.duration_ms < 1300 and took_ms < 1300, (result.duration_ms, took_ms)
    assert result.exit_code == -9 and result.diagnosis is None
    assert_no_sandbox_processes(within=0)  # nothing left, at once


def test_run_b_cannot_see_what_run_a_wrote(sandbox):
    a = run(sandbox, "open('/work/secret.txt', 'w').write('from A')\nimport os\nprint(os.listdir('/work'))")
    assert a.verdict == Verdict.OK and "secret.txt" in a.stdout
    b = run(sandbox, "import os\nprint(os.path.exists('/work/secret.txt'), os.listdir('/work'))")
    assert b.stdout == "False ['main.py']\n"


def test_a_cancelled_run_leaves_nothing_behind(sandbox):
    async def main():
        task = asyncio.create_task(sandbox.run("import time\nprint('started', flush=True)\ntime.sleep(30)"))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.2)  # the reaper collects the killed process on this loop

    asyncio.run(main())
    assert_no_sandbox_processes()


def test_under_uvloop_like_the_service(sandbox):
    async def main():
        return await asyncio.gather(
            sandbox.run("print(input()[::-1])", "olleh\n"),
            sandbox.run("1/0"),
            sandbox.run("while True:\n    pass", limits=Limits(wall_ms=500)),
            sandbox.run("print('y' * 3_000_000)"),
        )

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        echo, crash, loop, flood = runner.run(main())
    assert echo.verdict == Verdict.OK and echo.stdout == "hello\n"
    assert crash.verdict == Verdict.RUNTIME_ERROR and crash.diagnosis.exception_type == "ZeroDivisionError"
    assert loop.verdict == Verdict.TIMED_OUT and loop.duration_ms < 800
    assert flood.verdict == Verdict.OUTPUT_EXCEEDED
    assert_no_sandbox_processes()


def test_the_program_runs_unprivileged_when_the_service_is_root(sandbox):
    result = run(sandbox, "import os\nprint(os.getuid(), os.getgid(), os.getgroups())")
    uid, gid, groups = result.stdout.split(" ", 2)
    if os.geteuid() == 0:
        assert uid != "0" and gid != "0" and groups.strip() == "[]"


def test_unavailable_reason_explains_a_bad_interpreter():
    reason = BubblewrapSandbox.unavailable_reason("/root/.pyenv/shims/python3")
    assert reason is not None and "/usr" in reason
    assert "absolute" in (BubblewrapSandbox.unavailable_reason("python3") or "")


def test_the_unsafe_development_sandbox_gives_the_same_verdicts():
    unsafe = UnsafeLocalSandbox()
    ok = run(unsafe, "print(input())", "hi\n")
    crash = run(unsafe, "x = 1\ny = x / 0\n")
    loop = run(unsafe, "while True:\n    pass", limits=Limits(wall_ms=500))
    memory = run(unsafe, "x = ' ' * 100_000_000")
    assert ok.verdict == Verdict.OK and ok.stdout == "hi\n"
    assert crash.verdict == Verdict.RUNTIME_ERROR and crash.diagnosis == Diagnosis(
        "ZeroDivisionError", "division by zero", 2, "y = x / 0"
    )
    assert loop.verdict == Verdict.TIMED_OUT and loop.duration_ms < 800
    assert memory.verdict == Verdict.MEMORY_EXCEEDED


# --- diagnosis.py: pure logic ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("print(1)\n", None),
        ("x = 1\nif x = 2:\n    pass\n", ("SyntaxError", 2, "if x = 2:")),
        ("def f():\nreturn 1\n", ("IndentationError", 2, "return 1")),
        ("if 1:\n\tx = 1\n        y = 2\n", ("TabError", 3, "y = 2")),
        ("print('unclosed)\n", ("SyntaxError", 1, "print('unclosed)")),
        ("return 5\n", ("SyntaxError", 1, "return 5")),  # found by the compiler, not the parser
        ("x = " + "-" * 100_000 + "1", ("MemoryError", 0, "")),
        ("x = " + "1+" * 30_000 + "1", ("RecursionError", 0, "")),
        ("x = 1\fy = (\n", ("SyntaxError", 1, "x = 1\fy = (")),  # a form feed is not a line break
    ],
)
def test_check_syntax(code, expected):
    found = check_syntax(code)
    if expected is None:
        assert found is None
    else:
        assert found is not None and (found.exception_type, found.line, found.source_line) == expected, found


def test_check_syntax_on_nul_bytes():
    found = check_syntax("x = 1\0\n")  # ValueError up to 3.11.3, SyntaxError after
    assert found is not None and found.exception_type in ("ValueError", "SyntaxError") and found.line == 0


def test_check_syntax_keeps_compile_warnings_out_of_the_service(recwarn):
    assert check_syntax("x = 1\nprint(x is 1, '\\d')\n") is None
    assert not recwarn.list


CODE = "def f(n):\n    return 10 / n\n\nclass MyError(Exception):\n    pass\n\nf(0)\n"


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        (
            'Traceback (most recent call last):\n  File "/work/main.py", line 7, in <module>\n    f(0)\n'
            '  File "/work/main.py", line 2, in f\n    return 10 / n\n           ~~~^~~\n'
            "ZeroDivisionError: division by zero\n",
            Diagnosis("ZeroDivisionError", "division by zero", 2, "return 10 / n"),
        ),
        (  # chained: the last traceback is the one that ended the program
            'Traceback (most recent call last):\n  File "/work/main.py", line 2, in f\nKeyError: 1\n\n'
            "During handling of the above exception, another exception occurred:\n\n"
            'Traceback (most recent call last):\n  File "/work/main.py", line 7, in <module>\n'
            "    f(0)\n__main__.MyError: it broke\n",
            Diagnosis("MyError", "it broke", 7, "f(0)"),
        ),
        (  # raised in the standard library: the deepest frame of the student's file counts
            'Traceback (most recent call last):\n  File "/work/main.py", line 7, in <module>\n    f(0)\n'
            '  File "/usr/lib/python3.11/json/__init__.py", line 346, in loads\n    return _default_decoder\n'
            "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)\n",
            Diagnosis("JSONDecodeError", "Expecting value: line 1 column 1 (char 0)", 7, "f(0)"),
        ),
        (
            'Traceback (most recent call last):\n  File "/work/main.py", line 7, in <module>\n    f(0)\n'
            "KeyboardInterrupt\n",
            Diagnosis("KeyboardInterrupt", "", 7, "f(0)"),
        ),
        (
            "  + Exception Group Traceback (most recent call last):\n"
            '  |   File "/work/main.py", line 7, in <module>\n  |     f(0)\n'
            "  | ExceptionGroup: several (1 sub-exception)\n  +-+---------------- 1 ----------------\n"
            "    | ValueError: bad\n    +------------------------------------\n",
            Diagnosis("ExceptionGroup", "several (1 sub-exception)", 7, "f(0)"),
        ),
        (  # a fork bomb: processes interleave their tracebacks, and the last is cut off by the kill
            'Traceback (most recent call last):\n  File "/work/main.py", line 7, in <module>\n    f(0)\n'
            'Traceback (most recent call last):\n  File "/work/main.py", line 2, in f\n    return 10 / n\n'
            "BlockingIOError: [Errno 11] Resource temporarily unavailable\n"
            'Traceback (most recent call last):\n  File "/work/main.py", line 7, in <module>\n    f(0)\n',
            Diagnosis("BlockingIOError", "[Errno 11] Resource temporarily unavailable", 2, "return 10 / n"),
        ),
        ("Error: this is just a message on stderr\n", None),
        ("", None),
    ],
)
def test_diagnose(stderr, expected):
    assert diagnose(stderr, CODE) == expected


def test_verdict_precedence():
    memory = Diagnosis("MemoryError", "", 1, "x")
    enomem = Diagnosis("OSError", "[Errno 12] Cannot allocate memory", 2, "m = mmap.mmap(-1, n)")
    crash = Diagnosis("ValueError", "no", 1, "x")

    def verdict(timed_out=False, output_exceeded=False, exit_code=1, diagnosis=None, stderr=""):
        return verdict_for(
            timed_out=timed_out,
            output_exceeded=output_exceeded,
            exit_code=exit_code,
            diagnosis=diagnosis,
            stderr=stderr,
        )

    assert verdict(timed_out=True, output_exceeded=True, diagnosis=memory) == Verdict.TIMED_OUT
    assert verdict(output_exceeded=True, diagnosis=memory) == Verdict.OUTPUT_EXCEEDED
    assert verdict(diagnosis=memory) == Verdict.MEMORY_EXCEEDED
    assert verdict(diagnosis=enomem) == Verdict.MEMORY_EXCEEDED
    fatal = "Fatal Python error: _PyObject_New: MemoryError\n"
    assert verdict(exit_code=-6, stderr=fatal) == Verdict.MEMORY_EXCEEDED
    assert verdict(exit_code=-11) == Verdict.RUNTIME_ERROR
    assert verdict(diagnosis=crash) == Verdict.RUNTIME_ERROR
    assert verdict(exit_code=0, diagnosis=memory) == Verdict.OK  # caught its MemoryError and carried on
