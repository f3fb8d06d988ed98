"""Tutoring end to end: AskQuestion → learning.requests → triage → an agent → learning.responses →
the answer on the student's StreamConversation, all through gRPC on the real mesh.

    .venv/bin/python -m bench.tutoring [--students 100 --rate 20 --duration 20 --llm-delay-ms 200]

Phase 1 (issue #5 target): questions at a steady `--rate` per second (open loop), spread over
`--students` students who each keep a StreamConversation open; latency is from sending AskQuestion to
the tutor's answer arriving on the stream. Target offline: p50 <= 60 ms, p99 <= 250 ms at 20/s.
Phase 2: every student asks back-to-back (a closed loop of `--students`), to show the agents keep up
with that many concurrent students without errors (an answer that takes over 10 s is an error).
Phase 3 (with --llm-delay-ms > 0): phase 1 again with a model configured, a local OpenAI-compatible
server that answers after that delay; the difference to phase 1 should be about the delay per model
call on the path (one per answer: triage's rules are sure of these questions).

The question mix: the "loop never ends" debug question with code, a NameError with its traceback, a
concept question, an off-topic one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import sys
import time
import uuid

import grpc
from learnflow.auth.v1 import auth_pb2
from learnflow.identity.v1 import identity_service_pb2 as id_pb
from learnflow.identity.v1 import identity_service_pb2_grpc as id_grpc
from learnflow.identity.v1 import resources_pb2 as id_res
from learnflow.tutoring.v1 import resources_pb2 as pb
from learnflow.tutoring.v1 import tutoring_service_pb2 as api
from learnflow.tutoring.v1 import tutoring_service_pb2_grpc as api_grpc

from bench.common import Figures, check, figures, report, with_bare
from bench.common import run as bench_run
from services.runtime.testing import bearer, login, mesh_dir, new_mesh

QUESTIONS = (
    api.AskQuestionRequest(text="why does my loop never end?", code="i = 0\nwhile i < 10:\n    print(i)\n"),
    api.AskQuestionRequest(
        text="what is wrong?",
        code="total = 0\nfor n in [1, 2]:\n    total = totl + n\n",
        error='Traceback (most recent call last):\n  File "main.py", line 3, in <module>\n'
        "NameError: name 'totl' is not defined\n",
    ),
    api.AskQuestionRequest(text="What is a list comprehension in Python?"),
    api.AskQuestionRequest(text="who won the football match yesterday?"),
)
ANSWER_TIMEOUT = 10.0


class Student:
    def __init__(self, token: str):
        self.metadata = bearer(token)
        self.conversation = ""
        self.waiting: dict[str, asyncio.Future[float]] = {}


async def make_students(mesh, count: int) -> list[Student]:
    admin = login(mesh, "admin@demo.test")
    async with grpc.aio.insecure_channel(mesh.grpc_addr) as channel:
        stub = id_grpc.IdentityServiceStub(channel)
        run = uuid.uuid4().hex[:6]

        async def one(i: int) -> Student:
            email = f"bench-{run}-{i}@demo.test"
            await stub.CreateUser(
                id_pb.CreateUserRequest(
                    user=id_res.User(email=email, roles=[auth_pb2.ROLE_STUDENT]), password="bench-password"
                ),
                metadata=bearer(admin),
            )
            reply = await stub.Login(
                id_pb.LoginRequest(tenant="demo", email=email, password="bench-password")
            )
            return Student(reply.tokens.access_token)

        students = []
        for start in range(0, count, 10):  # argon2 hashing: a few at a time
            students += await asyncio.gather(*(one(i) for i in range(start, min(count, start + 10))))
        return students


async def listen(stub: api_grpc.TutoringServiceStub, student: Student, after: int) -> None:
    call = stub.StreamConversation(
        api.StreamConversationRequest(
            conversation_id=student.conversation, after_sequence=after, max_wait_seconds=300
        ),
        metadata=student.metadata,
    )
    async for message in call:
        if message.author == pb.AUTHOR_TUTOR:
            future = student.waiting.pop(message.in_reply_to, None)
            if future is not None and not future.done():
                future.set_result(time.perf_counter())


async def ask(
    stub: api_grpc.TutoringServiceStub, student: Student, question: api.AskQuestionRequest
) -> float | None:
    """Seconds from sending the question to its answer on the stream; None on error or timeout."""
    request = api.AskQuestionRequest()
    request.CopyFrom(question)
    request.conversation_id = student.conversation
    future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    began = time.perf_counter()
    try:
        asked = await stub.AskQuestion(request, metadata=student.metadata, timeout=ANSWER_TIMEOUT)
        student.waiting[asked.id] = future
        return await asyncio.wait_for(future, ANSWER_TIMEOUT) - began
    except (grpc.aio.AioRpcError, TimeoutError):
        return None


async def open_loop(stub, students: list[Student], rate: float, duration: float, name: str) -> Figures:
    latencies: list[float] = []
    errors = 0
    tasks = []
    who = itertools.cycle(students)
    what = itertools.cycle(QUESTIONS)

    async def one(student: Student, question: api.AskQuestionRequest) -> None:
        nonlocal errors
        took = await ask(stub, student, question)
        if took is None:
            errors += 1
        else:
            latencies.append(took)

    began = time.perf_counter()
    for i in range(int(rate * duration)):
        delay = began + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(next(who), next(what))))
    await asyncio.gather(*tasks)
    result = figures(name, int(rate), latencies, errors, time.perf_counter() - began)
    result.paced = True  # questions at `rate` per second
    return result


async def closed_loop_students(stub, students: list[Student], duration: float) -> Figures:
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + duration

    async def student_loop(student: Student, offset: int) -> None:
        nonlocal errors
        for question in itertools.islice(itertools.cycle(QUESTIONS), offset, None):
            if time.perf_counter() >= stop_at:
                return
            took = await ask(stub, student, question)
            if took is None:
                errors += 1
            else:
                latencies.append(took)

    began = time.perf_counter()
    await asyncio.gather(*(student_loop(s, i % len(QUESTIONS)) for i, s in enumerate(students)))
    return figures(
        "AskQuestion -> answer, every student asking",
        len(students),
        latencies,
        errors,
        time.perf_counter() - began,
    )


async def measure(
    mesh, students_n: int, rate: float, duration: float, label: str, closed: bool
) -> list[Figures]:
    students = await make_students(mesh, students_n)
    results = []
    async with grpc.aio.insecure_channel(mesh.grpc_addr) as channel:
        stub = api_grpc.TutoringServiceStub(channel)
        listeners = []
        for student in students:  # a conversation each, and its stream open
            first = await stub.AskQuestion(api.AskQuestionRequest(text="hello"), metadata=student.metadata)
            student.conversation = first.conversation_id
            listeners.append(asyncio.create_task(listen(stub, student, first.sequence)))
        await asyncio.sleep(2.0)  # the first answers (to "hello") arrive and are ignored
        await open_loop(stub, students, rate, 3.0, "warm-up")
        phase1 = await open_loop(stub, students, rate, duration, f"AskQuestion -> answer on stream{label}")
        results.append(check(phase1, p50_ms=60, p99_ms=250) if closed else phase1)
        if closed:
            results.append(await closed_loop_students(stub, students, duration))
        for task in listeners:
            task.cancel()
        for task in listeners:
            with contextlib.suppress(BaseException):
                await task
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--rate", type=float, default=20.0, help="questions per second in phase 1")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per phase")
    parser.add_argument("--llm-delay-ms", type=float, default=200.0, help="0 skips the model phase")
    args = parser.parse_args(argv)

    results: list[Figures] = []
    root = mesh_dir("learnflow-bench-")
    # The bench measures the agents, not the limits: students here ask back to back.
    mesh = new_mesh(
        root,
        LOG_LEVEL="WARNING",
        SANDBOX_RUNS_PER_USER_PER_MINUTE="100000",
        TUTORING_REQUESTS_PER_USER_PER_MINUTE="100000",
        TUTORING_REQUESTS_PER_TENANT_PER_MINUTE="1000000",
    )
    try:
        mesh.start()
        results += bench_run(
            with_bare(measure(mesh, args.students, args.rate, args.duration, " (offline)", True))
        )
    finally:
        mesh.stop()
    if args.llm_delay_ms > 0:
        from services.tutoring.testing.openai_server import FakeOpenAI, Stall, tutor_echo

        delay = args.llm_delay_ms / 1000
        with FakeOpenAI() as server:
            server.default = lambda body: Stall(delay, then=tutor_echo(body))
            mesh = new_mesh(
                mesh_dir("learnflow-bench-"),
                LOG_LEVEL="WARNING",
                OPENAI_BASE_URL=server.base_url,
                OPENAI_API_KEY="bench-key",
                TUTORING_LLM_TIMEOUT_SECONDS="5",
            )
            try:
                mesh.start()
                label = f" (model answering in {args.llm_delay_ms:.0f} ms)"
                results += bench_run(
                    with_bare(measure(mesh, args.students, args.rate, args.duration, label, False))
                )
            finally:
                mesh.stop()
    report(
        "tutoring", results, {"students": args.students, "rate": args.rate, "llm_delay_ms": args.llm_delay_ms}
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
