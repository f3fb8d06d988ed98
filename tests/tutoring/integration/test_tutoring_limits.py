"""What a person may ask of tutoring's model, through Envoy: questions, submissions and exercise
requests are limited per person (a 429 with Retry-After past the burst, someone else unaffected), and
the research capability is for services (a person researches through a workflow and its quotas)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from services.runtime.local.mesh import LocalMesh
from services.runtime.testing import login, mesh_dir, new_mesh, new_student, rest


@pytest.fixture(scope="module")
def limited() -> Iterator[LocalMesh]:
    """identity and tutoring, with a person's limit of 3 requests a minute (burst 3)."""
    root = mesh_dir("learnflow-tutoring-limits-")
    m = new_mesh(root, TUTORING_REQUESTS_PER_USER_PER_MINUTE="3")
    try:
        m.start_infra()
        m.start_server(contexts="identity,tutoring")
        m.start_envoy()
        yield m
    finally:
        m.stop()
        shutil.rmtree(root, ignore_errors=True)


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
