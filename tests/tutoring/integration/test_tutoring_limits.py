"""What a person may ask of tutoring's model, through Envoy: questions, submissions and exercise
requests are limited per person (a 429 with Retry-After past the burst, someone else unaffected), and
the research capability is for services (a person researches through a workflow and its quotas)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import grpc
import pytest
from learnflow.tutoring.v1 import tutoring_service_pb2 as pb
from learnflow.tutoring.v1 import tutoring_service_pb2_grpc as pb_grpc

from services.runtime.local.mesh import LocalMesh
from services.runtime.testing import bearer, login, new_student, rest, running_mesh


@pytest.fixture(scope="module")
def limited() -> Iterator[LocalMesh]:
    """identity and tutoring, with a person's limit of 3 requests a minute (burst 3) and of 2 open
    streams at once."""
    with running_mesh(
        contexts="identity,tutoring",
        TUTORING_REQUESTS_PER_USER_PER_MINUTE="3",
        LEARNFLOW_STREAMS_PER_CALLER="2",
    ) as m:
        yield m


def test_a_persons_requests_are_limited_and_anothers_are_not(limited: LocalMesh) -> None:
    token = new_student(limited)["token"]
    asks = [rest(limited, "POST", "/v1/questions", {"text": f"lists? ({i})"}, token=token) for i in range(3)]
    assert [a.status for a in asks] == [200, 200, 200], [a.body for a in asks]
    review = rest(limited, "POST", "/v1/codeSubmissions", {"code": "print(1)"}, token=token)
    assert review.status == 429, review.body
    headers = {k.lower(): v for k, v in review.headers.items()}
    assert review.body["code"] == 8 and int(headers["retry-after"]) >= 1
    other = new_student(limited)["token"]
    assert rest(limited, "POST", "/v1/questions", {"text": "and a tuple?"}, token=other).status == 200


def test_research_is_for_services(limited: LocalMesh) -> None:
    for email in ("student@demo.test", "teacher@demo.test"):
        reply = rest(limited, "POST", "/v1/research", {"topic": "lists"}, token=login(limited, email))
        assert reply.status == 403, (email, reply.body)


def test_a_caller_holds_a_bounded_number_of_streams_open(limited: LocalMesh) -> None:
    """Each stream holds a slot in Envoy's cluster and polls the database for minutes: a caller may
    hold LEARNFLOW_STREAMS_PER_CALLER (2 here) at once in a process; one more is RESOURCE_EXHAUSTED
    at once, someone else is unaffected, and a closed stream gives its slot back."""
    mine, theirs = new_student(limited), new_student(limited)
    asked = rest(limited, "POST", "/v1/questions", {"text": "what is a dict?"}, token=mine["token"])
    other_asked = rest(limited, "POST", "/v1/questions", {"text": "a set?"}, token=theirs["token"])
    assert asked.status == other_asked.status == 200, (asked.body, other_asked.body)

    async def main() -> tuple[grpc.StatusCode, str, bool, bool]:
        async with grpc.aio.insecure_channel(limited.grpc_addr) as channel:
            stub = pb_grpc.TutoringServiceStub(channel)

            def watch(who: dict[str, str], conversation: str) -> grpc.aio.UnaryStreamCall:
                request = pb.StreamConversationRequest(conversation_id=conversation, max_wait_seconds=30)
                return stub.StreamConversation(request, metadata=bearer(who["token"]))

            held = [watch(mine, asked.body["conversationId"]) for _ in range(2)]
            for call in held:
                await call.read()  # the question: the stream is open on the server
            extra = watch(mine, asked.body["conversationId"])
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await extra.read()
            other = watch(theirs, other_asked.body["conversationId"])
            other_open = (await other.read()) is not grpc.aio.EOF
            held[0].cancel()
            again_open = False
            for _ in range(100):  # the server sees the cancel and gives the slot back
                again = watch(mine, asked.body["conversationId"])
                try:
                    again_open = (await again.read()) is not grpc.aio.EOF
                    break
                except grpc.aio.AioRpcError as err:
                    if err.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                        raise
                    await asyncio.sleep(0.1)
            for call in (held[1], other, again):
                call.cancel()
            return refused.value.code(), refused.value.details() or "", other_open, again_open

    code, details, other_open, again_open = asyncio.run(main())
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "streams already open" in details
    assert other_open and again_open
