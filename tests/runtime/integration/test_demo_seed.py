"""The embedded demo's class: seeded once through progress's public API after the mesh serves, so the
README's struggle-alert walk-through reaches the demo teacher; a second start finds it and makes no
second class."""

from __future__ import annotations

import psycopg

from services.runtime.local.demo import DEMO_CLASS, DEMO_STUDENT, DEMO_TEACHER
from services.runtime.testing import login, rest


def _demo_classes(mesh) -> list[tuple[list[str], list[str]]]:
    """(teachers, students) of every class named like the demo's in the demo tenant, read as the
    database's owner (the API has no class listing)."""
    url = mesh.migration_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT c.teacher_ids, array(SELECT m.student_id FROM progress.class_members m"
            "  WHERE m.class_id = c.id ORDER BY 1)"
            " FROM progress.classes c JOIN identity.tenants t ON t.id = c.tenant_id"
            " WHERE t.slug = 'demo' AND c.name = %s",
            (DEMO_CLASS,),
        ).fetchall()
    return [(list(t), list(s)) for t, s in rows]


def _id(mesh, email: str) -> str:
    return str(rest(mesh, "GET", "/v1/users/me", token=login(mesh, email)).body["id"])


def test_the_demo_class_is_seeded_once_with_the_demo_teacher_and_student(mesh):
    assert mesh.seeds_demo
    teacher, student = _id(mesh, DEMO_TEACHER), _id(mesh, DEMO_STUDENT)
    assert _demo_classes(mesh) == [([teacher], [student])]
    seen = rest(mesh, "GET", f"/v1/students/{student}/progress", token=login(mesh, DEMO_TEACHER))
    assert seen.status == 200, seen.body

    mesh.seed_demo_class()  # what a second `make up` on the same data does
    assert mesh.demo_class_created is False
    assert _demo_classes(mesh) == [([teacher], [student])]
