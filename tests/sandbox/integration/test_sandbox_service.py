"""The sandbox through the real service: gRPC and REST via Envoy, events, grading with hidden test
cases, and back-pressure (a full pool answers RESOURCE_EXHAUSTED at once; per-user rate limits)."""

import asyncio
import shutil
import time
import uuid

import grpc
import nats
import pytest
from google.rpc import error_details_pb2, status_pb2
from learnflow.identity.v1 import identity_service_pb2 as id_pb
from learnflow.identity.v1 import identity_service_pb2_grpc as id_grpc
from learnflow.identity.v1 import resources_pb2 as id_resources
from learnflow.sandbox.v1 import events_pb2, resources_pb2
from learnflow.sandbox.v1 import sandbox_service_pb2 as pb
from learnflow.sandbox.v1 import sandbox_service_pb2_grpc as pb_grpc

from services.runtime.testing import bearer, login, mesh_dir, new_mesh, new_student, rest
from services.sandbox.engine import BubblewrapSandbox

pytestmark = pytest.mark.skipif(
    BubblewrapSandbox.unavailable_reason() is not None,
    reason=f"isolation unavailable: {BubblewrapSandbox.unavailable_reason()}",
)
V = resources_pb2


@pytest.fixture(scope="module")
def student(mesh):
    return login(mesh, "student@demo.test")


@pytest.fixture(scope="module")
def stub(mesh):
    with grpc.insecure_channel(mesh.grpc_addr) as channel:
        yield pb_grpc.SandboxServiceStub(channel)


def test_zero_division_is_a_runtime_error_with_a_diagnosis(stub, student):
    began = time.perf_counter()
    run = stub.Execute(pb.ExecuteRequest(code="1/0"), metadata=bearer(student))
    took_ms = (time.perf_counter() - began) * 1000
    assert run.verdict == V.VERDICT_RUNTIME_ERROR
    assert run.diagnosis.exception_type == "ZeroDivisionError"
    assert run.diagnosis.line == 1 and run.diagnosis.source_line == "1/0"
    assert run.id and run.duration_ms > 0
    assert took_ms < 1000  # generous here; the benchmark measures the real figure


def test_output_stdin_and_syntax_errors(stub, student):
    ok = stub.Execute(
        pb.ExecuteRequest(code="name = input()\nprint(f'hello {name}')", stdin="Ada\n"),
        metadata=bearer(student),
    )
    assert ok.verdict == V.VERDICT_OK and ok.stdout == "hello Ada\n" and ok.exit_code == 0
    bad = stub.Execute(pb.ExecuteRequest(code="x = 1\nif x = 2:\n    pass\n"), metadata=bearer(student))
    assert bad.verdict == V.VERDICT_SYNTAX_ERROR
    assert bad.diagnosis.exception_type == "SyntaxError" and bad.diagnosis.line == 2


def test_bad_requests_are_invalid_argument_with_fields(stub, student):
    for request, field in (
        (pb.ExecuteRequest(code=""), "code"),
        (pb.ExecuteRequest(code="print(1)", limits=V.Limits(wall_time_ms=60_000)), "limits.wall_time_ms"),
        (pb.ExecuteRequest(code="print(1)", limits=V.Limits(memory_mb=-1)), "limits.memory_mb"),
        (pb.ExecuteRequest(code="x" * (64 * 1024 + 1)), "code"),
        (pb.ExecuteRequest(code="print(1)", exercise_id="nope"), "exercise_id"),
    ):
        with pytest.raises(grpc.RpcError) as err:
            stub.Execute(request, metadata=bearer(student))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert field in str(err.value.trailing_metadata()), field


def test_timeout_is_reported_within_the_limit(stub, student):
    began = time.perf_counter()
    run = stub.Execute(
        pb.ExecuteRequest(code="while True:\n    pass\n", limits=V.Limits(wall_time_ms=1000)),
        metadata=bearer(student),
    )
    assert run.verdict == V.VERDICT_TIMED_OUT
    assert time.perf_counter() - began < 1.3 + 0.5


def test_hundred_concurrent_runs_all_complete(mesh, student):
    async def main():
        async with grpc.aio.insecure_channel(mesh.grpc_addr) as channel:
            stub = pb_grpc.SandboxServiceStub(channel)
            calls = [
                stub.Execute(pb.ExecuteRequest(code=f"print({i} * 2)"), metadata=bearer(student), timeout=60)
                for i in range(100)
            ]
            return await asyncio.gather(*calls)

    runs = asyncio.run(main())
    assert [r.stdout for r in runs] == [f"{i * 2}\n" for i in range(100)]
    assert all(r.verdict == V.VERDICT_OK for r in runs)


EXERCISE = {
    "title": "Double it",
    "prompt": "Read a number and print twice its value; define double(n).",
    "topic": "functions",
    "testCases": [
        {"name": "reads 21", "kind": "TEST_CASE_KIND_STDIO", "stdin": "21\n", "expectedStdout": "42\n"},
        {"name": "double(2)", "kind": "TEST_CASE_KIND_ASSERT", "code": "assert double(2) == 4"},
        {
            "name": "double(-7) == -14",
            "kind": "TEST_CASE_KIND_ASSERT",
            "code": "assert double(-7) == -14  # SECRET-CASE",
            "hidden": True,
        },
    ],
}
SOLUTION = "def double(n):\n    return 2 * n\n\nif __name__ == '__main__':\n    print(double(int(input())))\n"
WRONG = "def double(n):\n    return n * 3\n\nif __name__ == '__main__':\n    print(double(int(input())))\n"
READS_AT_IMPORT = "def double(n):\n    return 2 * n\n\nprint(double(int(input())))\n"


@pytest.fixture(scope="module")
def exercise(mesh):
    teacher = login(mesh, "teacher@demo.test")
    made = rest(mesh, "POST", "/v1/exercises", EXERCISE, token=teacher)
    assert made.status == 200, made.body
    return made.body


def test_students_cannot_author_or_see_hidden_cases(mesh, exercise, student):
    assert rest(mesh, "POST", "/v1/exercises", EXERCISE, token=student).status == 403
    seen = rest(mesh, "GET", f"/v1/exercises/{exercise['id']}", token=student).body
    assert [c["name"] for c in seen["testCases"]] == ["reads 21", "double(2)"]
    assert seen["hiddenCaseCount"] == 1
    assert "SECRET-CASE" not in str(seen)


def test_grading_through_rest_shows_visible_differences_only(mesh, exercise, student):
    good = rest(mesh, "POST", f"/v1/exercises/{exercise['id']}:grade", {"code": SOLUTION}, token=student)
    assert good.status == 200, good.body
    assert good.body["score"] == 1 and good.body["passed"] == 3 and good.body["total"] == 3
    bad = rest(mesh, "POST", f"/v1/exercises/{exercise['id']}:grade", {"code": WRONG}, token=student)
    cases = {c["name"]: c for c in bad.body["cases"]}
    assert bad.body["passed"] == 0
    assert "expected '42', got '63'" in cases["reads 21"]["firstDifference"]
    assert cases["double(2)"]["verdict"] == "VERDICT_RUNTIME_ERROR"
    assert "AssertionError" in cases["double(2)"]["firstDifference"]
    # A hidden case is named by its position, not by its author's name (which states its input).
    assert cases["hidden case 1"]["hidden"] is True and not cases["hidden case 1"].get("firstDifference")
    assert "SECRET-CASE" not in str(bad.body) and "double(-7)" not in str(bad.body)
    # A submission that reads input when imported fails the assert cases at its own line.
    eager = rest(
        mesh, "POST", f"/v1/exercises/{exercise['id']}:grade", {"code": READS_AT_IMPORT}, token=student
    )
    cases = {c["name"]: c for c in eager.body["cases"]}
    assert cases["reads 21"]["passed"] is True
    assert cases["double(2)"]["firstDifference"].startswith("EOFError")
    assert "line 4: print(double(int(input())))" in cases["double(2)"]["firstDifference"]


def test_unknown_exercise_is_404_and_syntax_errors_fail_every_case(mesh, exercise, student):
    assert (
        rest(
            mesh,
            "POST",
            "/v1/exercises/00000000-0000-0000-0000-000000000000:grade",
            {"code": "print(1)"},
            token=student,
        ).status
        == 404
    )
    broken = rest(
        mesh, "POST", f"/v1/exercises/{exercise['id']}:grade", {"code": "def double(n)\n"}, token=student
    )
    assert broken.body["passed"] == 0
    assert {c["verdict"] for c in broken.body["cases"]} == {"VERDICT_SYNTAX_ERROR"}


def test_execute_through_rest_and_its_event(mesh, student):
    async def main():
        # The subject is shared with every other run in the mesh: wait for this run's event.
        nc = await nats.connect(mesh.nats_url)
        sub = await nc.subscribe("sandbox.executed")
        try:
            reply = await asyncio.to_thread(
                rest, mesh, "POST", "/v1/executions", {"code": "x = 1\nprint(y)\n"}, student
            )
            while True:
                msg = await sub.next_msg(timeout=20)
                if events_pb2.SandboxExecuted.FromString(msg.data).execution_id == reply.body.get("id"):
                    return reply, msg
        finally:
            await nc.close()

    reply, msg = asyncio.run(main())
    assert reply.status == 200 and reply.body["verdict"] == "VERDICT_RUNTIME_ERROR"
    assert reply.body["diagnosis"]["exceptionType"] == "NameError" and reply.body["diagnosis"]["line"] == 2
    event = events_pb2.SandboxExecuted.FromString(msg.data)
    assert msg.headers["ce-type"] == "learnflow.sandbox.v1.SandboxExecuted"
    assert event.execution_id == reply.body["id"]
    assert event.verdict == V.VERDICT_RUNTIME_ERROR and event.diagnosis.exception_type == "NameError"
    assert event.user_id and msg.headers["learnflow-tenant"]


@pytest.fixture(scope="module")
def tight_mesh():
    """One worker, a queue of one, and a per-user limit of 6 runs a minute (burst 10): what refills
    during a test (a run every 10 s) is too little to blur what the tests count."""
    root = mesh_dir("learnflow-sandbox-")
    m = new_mesh(root, SANDBOX_WORKERS="1", SANDBOX_QUEUE="1", SANDBOX_RUNS_PER_USER_PER_MINUTE="6")
    try:
        m.start_infra()
        m.start_server(contexts="identity,sandbox")
        yield m
    finally:
        m.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_a_full_pool_answers_resource_exhausted_at_once(tight_mesh):
    token = login(tight_mesh, "teacher@demo.test")

    async def main():
        async with grpc.aio.insecure_channel(tight_mesh.grpc_addr) as channel:
            stub = pb_grpc.SandboxServiceStub(channel)
            slow = pb.ExecuteRequest(code="import time\ntime.sleep(1)\n")
            results = await asyncio.gather(
                *(stub.Execute(slow, metadata=bearer(token)) for _ in range(4)), return_exceptions=True
            )
            return results

    began = time.perf_counter()
    results = asyncio.run(main())
    errors = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(errors) == 2 and all(e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED for e in errors)
    assert sum(1 for r in results if not isinstance(r, Exception)) == 2  # one ran, one waited
    assert time.perf_counter() - began < 4


def test_per_user_rate_limit_is_429_through_rest(tight_mesh):
    tight_mesh.start_envoy()
    token = login(tight_mesh, "student@demo.test")
    statuses = [
        rest(tight_mesh, "POST", "/v1/executions", {"code": "pass"}, token=token).status for _ in range(12)
    ]
    assert statuses[:10] == [200] * 10
    assert 429 in statuses[10:]
    limited = rest(tight_mesh, "POST", "/v1/executions", {"code": "pass"}, token=token)
    assert limited.status == 429 and limited.body["code"] == 8


def test_a_grade_costs_one_run_per_test_case(tight_mesh):
    """A grade runs every case: it is charged that many runs, so an exercise of many cases does not
    turn one token of the per-user limit (burst 10 here) into dozens of runs."""
    if tight_mesh.envoy is None:  # started by the rate-limit test when it ran first
        tight_mesh.start_envoy()
    two_cases = {**EXERCISE, "testCases": EXERCISE["testCases"][:2]}  # the pool holds two at once
    made = rest(tight_mesh, "POST", "/v1/exercises", two_cases, token=login(tight_mesh, "teacher@demo.test"))
    assert made.status == 200, made.body
    token = new_student(tight_mesh)["token"]
    path = f"/v1/exercises/{made.body['id']}:grade"
    statuses = [rest(tight_mesh, "POST", path, {"code": SOLUTION}, token=token).status for _ in range(8)]
    # Two runs a grade: five fit the burst of ten, the sixth waits for two more (20 s at 6 a minute);
    # at one run a grade, all eight would fit.
    assert statuses[:5] == [200] * 5, statuses
    assert statuses[5] == 429, statuses


def test_a_retried_execution_with_the_same_request_id_is_recorded_and_announced_once(mesh, student):
    key = f"retry-{uuid.uuid4().hex}"

    async def main():
        nc = await nats.connect(mesh.nats_url)
        sub = await nc.subscribe("sandbox.executed")
        try:
            replies = [
                await asyncio.to_thread(
                    rest, mesh, "POST", "/v1/executions", {"code": "print(7)", "requestId": key}, student
                )
                for _ in range(2)
            ]
            other = await asyncio.to_thread(
                rest, mesh, "POST", "/v1/executions", {"code": "print(7)", "requestId": key + "-b"}, student
            )
            # The second key's event comes after the first key's (one relay, commit order): once it
            # is here, any duplicate of the first would have been too.
            ids = []
            while other.body["id"] not in ids:
                msg = await sub.next_msg(timeout=20)
                ids.append(events_pb2.SandboxExecuted.FromString(msg.data).execution_id)
            return replies, other, ids
        finally:
            await nc.close()

    (first, second), other, ids = asyncio.run(main())
    assert first.status == second.status == 200 and first.body["stdout"] == second.body["stdout"] == "7\n"
    assert first.body["id"] == second.body["id"] != other.body["id"]
    assert ids.count(first.body["id"]) == 1
    too_long = rest(mesh, "POST", "/v1/executions", {"code": "print(7)", "requestId": "x" * 201}, student)
    assert too_long.status == 400 and "request_id" in str(too_long.body)


def test_a_retried_grade_with_the_same_request_id_is_recorded_and_announced_once(mesh, exercise, student):
    key = f"grade-{uuid.uuid4().hex}"
    path = f"/v1/exercises/{exercise['id']}:grade"

    async def main():
        nc = await nats.connect(mesh.nats_url)
        executed = await nc.subscribe("sandbox.executed")
        graded = await nc.subscribe("sandbox.graded")
        try:
            replies = [
                await asyncio.to_thread(
                    rest, mesh, "POST", path, {"code": SOLUTION, "requestId": key}, student
                )
                for _ in range(2)
            ]
            other = await asyncio.to_thread(
                rest, mesh, "POST", path, {"code": SOLUTION, "requestId": key + "-b"}, student
            )
            # The second key's events come after the first key's (one relay, commit order, the graded
            # event staged with the executed one): once both are here, any duplicate would be too.
            runs, grades = [], []
            while other.body["submissionId"] not in grades:
                grades.append(
                    events_pb2.SubmissionGraded.FromString((await graded.next_msg(20)).data).submission_id
                )
            while other.body["submissionId"] not in runs:
                runs.append(
                    events_pb2.SandboxExecuted.FromString((await executed.next_msg(20)).data).execution_id
                )
            return replies, other, runs, grades
        finally:
            await nc.close()

    (first, second), other, runs, grades = asyncio.run(main())
    assert first.status == second.status == other.status == 200, first.body
    assert first.body["submissionId"] == second.body["submissionId"] != other.body["submissionId"]
    assert first.body["score"] == second.body["score"] == 1
    assert runs.count(first.body["submissionId"]) == grades.count(first.body["submissionId"]) == 1
    too_long = rest(mesh, "POST", path, {"code": SOLUTION, "requestId": "x" * 201}, student)
    assert too_long.status == 400 and "request_id" in str(too_long.body)


def test_creating_an_exercise_twice_with_one_request_id_creates_it_once(mesh):
    teacher = login(mesh, "teacher@demo.test")
    key = f"create-{uuid.uuid4().hex}"
    first = rest(mesh, "POST", f"/v1/exercises?requestId={key}", EXERCISE, token=teacher)
    again = rest(mesh, "POST", f"/v1/exercises?requestId={key}", EXERCISE, token=teacher)
    other = rest(mesh, "POST", f"/v1/exercises?requestId={key}-b", EXERCISE, token=teacher)
    assert first.status == again.status == other.status == 200, (first.body, again.body)
    assert first.body["id"] == again.body["id"] != other.body["id"]
    # Another author's key is theirs alone: the same key from the admin creates a new exercise.
    admin = rest(
        mesh, "POST", f"/v1/exercises?requestId={key}", EXERCISE, token=login(mesh, "admin@demo.test")
    )
    assert admin.status == 200 and admin.body["id"] != first.body["id"]


def test_on_behalf_of_must_name_a_user_of_the_callers_tenant(mesh, stub):
    """A service of one tenant cannot run code as (and spend the budget of, and publish runs for)
    another tenant's user, nor as nobody; as its own tenant's student it can."""
    slug = f"behalf-{uuid.uuid4().hex[:6]}"
    with grpc.insecure_channel(mesh.grpc_addr) as ch:
        identity = id_grpc.IdentityServiceStub(ch)
        identity.CreateTenant(
            id_pb.CreateTenantRequest(
                tenant=id_resources.Tenant(slug=slug, display_name="Behalf"),
                admin_email=f"head@{slug}.test",
                admin_password="behalf-password",
            ),
            metadata=bearer(login(mesh, "operator@demo.test")),
        )
        foreign = new_student(
            mesh, admin_token=login(mesh, f"head@{slug}.test", "behalf-password", tenant=slug), tenant=slug
        )
        ours = new_student(mesh)
        service = identity.IssueWorkloadToken(
            id_pb.IssueWorkloadTokenRequest(
                workload="tutoring", secret=mesh.workload_secrets["tutoring"], tenant_id=ours["tenant"]
            )
        ).access_token
    for someone in (foreign["id"], str(uuid.uuid4()), "not-an-id"):
        with pytest.raises(grpc.RpcError) as err:
            stub.Execute(pb.ExecuteRequest(code="print(1)", on_behalf_of=someone), metadata=bearer(service))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, someone
        details = dict(err.value.trailing_metadata() or ())["grpc-status-details-bin"]
        bad = error_details_pb2.BadRequest()
        assert any(d.Unpack(bad) for d in status_pb2.Status.FromString(details).details)
        assert [v.field for v in bad.field_violations] == ["on_behalf_of"]
    ran = stub.Execute(pb.ExecuteRequest(code="print(2)", on_behalf_of=ours["id"]), metadata=bearer(service))
    assert ran.stdout == "2\n"
