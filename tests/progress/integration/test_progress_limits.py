"""What a person may record in progress, through Envoy: RecordActivity from a student is limited per
person (a 429 with Retry-After past the burst; another student unaffected; nothing recorded by the
refused call)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from services.runtime.local.mesh import LocalMesh
from services.runtime.testing import new_student, rest, running_mesh


@pytest.fixture(scope="module")
def limited() -> Iterator[LocalMesh]:
    """identity and progress, with a person's limit of 3 activities a minute (burst 5): one refills
    every 20 s, too slowly to blur what the test counts."""
    with running_mesh(contexts="identity,progress", PROGRESS_ACTIVITIES_PER_USER_PER_MINUTE="3") as m:
        yield m


def _activity() -> dict[str, object]:
    return {
        "id": f"a-{uuid.uuid4().hex[:8]}",
        "topic": "loops",
        "score": 1.0,
        "kind": "ACTIVITY_KIND_EXERCISE_ATTEMPT",
    }


def test_a_persons_activities_are_limited_and_anothers_are_not(limited: LocalMesh) -> None:
    student = new_student(limited)
    recorded = [
        rest(limited, "POST", "/v1/activities", _activity(), token=student["token"]) for _ in range(5)
    ]
    assert [r.status for r in recorded] == [200] * 5, [r.body for r in recorded]
    refused = rest(limited, "POST", "/v1/activities", _activity(), token=student["token"])
    assert refused.status == 429 and refused.body["code"] == 8, refused.body
    assert int({k.lower(): v for k, v in refused.headers.items()}["retry-after"]) >= 1
    progress = rest(limited, "GET", "/v1/students/me/progress", token=student["token"]).body
    assert [t["attempts"] for t in progress["topics"] if t["topic"] == "loops"] == [5], progress
    other = new_student(limited)
    assert rest(limited, "POST", "/v1/activities", _activity(), token=other["token"]).status == 200
