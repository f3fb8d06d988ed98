"""Two remainders of issue 14 on the session's shared mesh, through gRPC and REST (Envoy):

- rules-based enrollment from progress's risk list: mtss reads a class's summaries (by risk) as its
  workload on behalf of the caller; progress grants that read to mtss's workload only, only for a
  user who may read the class, and audits it; the dry run previews who would be enrolled and why;
- the Ed-Fi export of a year of attendance (more than gRPC's 4 MB message limit) as a stream of
  pages (server-sent events through REST), joined back into ExportEdFi's document and imported.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import grpc
import pytest
from learnflow.identity.v1 import identity_service_pb2 as id_pb
from learnflow.identity.v1 import identity_service_pb2_grpc as id_grpc
from learnflow.identity.v1 import resources_pb2 as id_resources
from learnflow.mtss.v1 import mtss_service_pb2 as pb
from learnflow.mtss.v1 import mtss_service_pb2_grpc as pb_grpc
from learnflow.mtss.v1 import resources_pb2
from learnflow.progress.v1 import progress_service_pb2 as progress_pb
from learnflow.progress.v1 import progress_service_pb2_grpc as progress_grpc
from learnflow.progress.v1 import resources_pb2 as progress_resources

from services.mtss import store
from services.mtss.domain import programs as p
from services.mtss.service import MtssService, join_pages
from services.mtss.settings import MtssConfig
from services.runtime.db import Database
from services.runtime.events.outbox import Outbox
from services.runtime.request_context import Principal
from services.runtime.testing import bearer, login, new_student, rest

NY = "America/New_York"
FOUR_MB = 4 * 1024 * 1024


def _me(mesh, token: str) -> str:
    return rest(mesh, "GET", "/v1/users/me", token=token).body["id"]


def _intervention(owner_id: str, room: str, begin: date, weeks: int, **kw) -> resources_pb2.Intervention:
    fields = dict(
        template_key="reading-group",
        name="Reading group",
        objectives=["Read 60 words correct per minute"],
        owner_id=owner_id,
        room=room,
        goal=resources_pb2.Goal(
            baseline=20, target=60, goal_date=(begin + timedelta(weeks=weeks - 2)).isoformat()
        ),
        begin_date=begin.isoformat(),
        end_date=(begin + timedelta(weeks=weeks, days=-1)).isoformat(),
        schedule=resources_pb2.Schedule(rrule="FREQ=WEEKLY;BYDAY=MO,WE,FR", start_time="09:00", time_zone=NY),
    )
    fields.update(kw)
    return resources_pb2.Intervention(**fields)


# --- risk lists from progress ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def risk_class(mesh):
    """A progress class of the demo teacher with three fresh students: one who failed a quiz (an open
    alert, low mastery: the highest risk), one with a middling quiz, one with no activity (risk 0)."""
    admin = login(mesh, "admin@demo.test")
    teacher = login(mesh, "teacher@demo.test")
    high, middle, low = (new_student(mesh, admin_token=admin) for _ in range(3))
    with grpc.insecure_channel(mesh.grpc_addr) as ch:
        stub = progress_grpc.ProgressServiceStub(ch)
        made = stub.CreateClass(
            progress_pb.CreateClassRequest(
                **{
                    "class": progress_resources.StudentClass(
                        name=f"Risk list {uuid.uuid4().hex[:6]}",
                        teacher_ids=[_me(mesh, teacher)],
                        student_ids=[high["id"], middle["id"], low["id"]],
                    )
                }
            ),
            metadata=bearer(admin),
            timeout=10,
        )
        for who, score in ((high, 0.2), (middle, 0.7)):
            stub.RecordActivity(
                progress_pb.RecordActivityRequest(
                    activity=progress_resources.Activity(
                        id=f"quiz-{uuid.uuid4().hex[:8]}",
                        topic="phonics",
                        kind=progress_resources.ACTIVITY_KIND_QUIZ_SUBMISSION,
                        quiz_id="q1",
                        score=score,
                    )
                ),
                metadata=bearer(who["token"]),
                timeout=10,
            )
    return {
        "class_id": made.id,
        "admin": admin,
        "teacher": teacher,
        "teacher_id": _me(mesh, teacher),
        "high": high["id"],
        "middle": middle["id"],
        "low": low["id"],
    }


def _workload_token(mesh, workload: str, tenant_id: str) -> str:
    with grpc.insecure_channel(mesh.grpc_addr) as ch:
        return (
            id_grpc.IdentityServiceStub(ch)
            .IssueWorkloadToken(
                id_pb.IssueWorkloadTokenRequest(
                    workload=workload, secret=mesh.workload_secrets[workload], tenant_id=tenant_id
                ),
                timeout=10,
            )
            .access_token
        )


def test_progress_grants_class_summaries_to_mtss_workload_only_on_behalf_of_a_reader(mesh, risk_class):
    tenant = new_student(mesh)["tenant"]
    request = progress_pb.ListClassSummariesRequest(class_id=risk_class["class_id"])
    with grpc.insecure_channel(mesh.grpc_addr) as ch:
        stub = progress_grpc.ProgressServiceStub(ch)
        tutoring = bearer(_workload_token(mesh, "tutoring", tenant))
        with pytest.raises(grpc.RpcError) as err:  # the service role alone is not enough
            stub.ListClassSummaries(request, metadata=tutoring, timeout=10)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        mtss = bearer(_workload_token(mesh, "mtss", tenant))
        with pytest.raises(grpc.RpcError) as err:  # for whom?
            stub.ListClassSummaries(request, metadata=mtss, timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "on_behalf_of" in err.value.details()
        for_student = progress_pb.ListClassSummariesRequest(
            class_id=risk_class["class_id"], on_behalf_of=risk_class["low"]
        )
        with pytest.raises(grpc.RpcError) as err:  # a student of the class may not read it
            stub.ListClassSummaries(for_student, metadata=mtss, timeout=10)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        for_teacher = progress_pb.ListClassSummariesRequest(
            class_id=risk_class["class_id"], on_behalf_of=risk_class["teacher_id"]
        )
        got = stub.ListClassSummaries(for_teacher, metadata=mtss, timeout=10)
        assert [s.student_id for s in got.summaries] == [risk_class[k] for k in ("high", "middle", "low")]
        with pytest.raises(grpc.RpcError) as err:  # users read as themselves
            stub.ListClassSummaries(for_teacher, metadata=bearer(risk_class["teacher"]), timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # The workload's read is in the audit trail: who read, for whom.
    resource = f"classes/{risk_class['class_id']}"
    deadline = time.monotonic() + 30
    while True:
        found = rest(
            mesh,
            "GET",
            f"/v1/audit/records?resource={resource}&action=class.summaries_read",
            token=risk_class["admin"],
        ).body.get("records", [])
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert found, "the workload's read was not audited"
    assert found[0]["actor"] == "workload:mtss" and found[0]["actorKind"] == "workload"
    assert found[0]["after"]["on_behalf_of"] == risk_class["teacher_id"]


def test_a_risk_list_from_progress_previews_then_enrolls(mesh, risk_class):
    teacher, teacher_id = risk_class["teacher"], risk_class["teacher_id"]
    today = datetime.now(ZoneInfo(NY)).date()
    begin = today - timedelta(days=today.weekday())
    with grpc.insecure_channel(mesh.grpc_addr) as ch:
        stub = pb_grpc.MtssServiceStub(ch)
        made = stub.CreateIntervention(
            pb.CreateInterventionRequest(
                intervention=_intervention(teacher_id, f"Room {uuid.uuid4().hex[:8]}", begin, 8)
            ),
            metadata=bearer(teacher),
            timeout=10,
        )
        preview = stub.EnrollFromRiskList(
            pb.EnrollFromRiskListRequest(
                intervention_id=made.id, class_id=risk_class["class_id"], min_risk=0.05, dry_run=True
            ),
            metadata=bearer(teacher),
            timeout=10,
        )
        got = [(c.student_id, c.eligible) for c in preview.candidates]
        assert got == [(risk_class["high"], True), (risk_class["middle"], True), (risk_class["low"], False)]
        assert preview.candidates[0].risk > preview.candidates[1].risk > preview.candidates[2].risk == 0
        assert "progress: mean mastery 0.20, 1 open alert" in preview.candidates[0].reason
        assert "below the criterion 0.05" in preview.candidates[2].reason
        assert not preview.enrollments  # a dry run enrolls nobody
        with pytest.raises(grpc.RpcError) as err:  # csv and class_id: which list?
            stub.EnrollFromRiskList(
                pb.EnrollFromRiskListRequest(
                    intervention_id=made.id, class_id=risk_class["class_id"], csv="student_id,risk\n"
                ),
                metadata=bearer(teacher),
                timeout=10,
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # Through REST: the second criterion (the one highest risk), then the enrollment itself.
    path = f"/v1/mtss/interventions/{made.id}:enrollFromRiskList"
    body = {"classId": risk_class["class_id"], "minRisk": 0.05, "maxStudents": 1}
    dry = rest(mesh, "POST", path, {**body, "dryRun": True}, token=teacher)
    assert dry.status == 200, dry.body
    assert [(c["studentId"], c["eligible"]) for c in dry.body["candidates"]][:2] == [
        (risk_class["high"], True),
        (risk_class["middle"], False),
    ]
    assert "beyond the 1 highest risks" in dry.body["candidates"][1]["reason"]
    done = rest(mesh, "POST", path, body, token=teacher)
    assert done.status == 200, done.body
    assert [(e["studentId"], e["source"]) for e in done.body["enrollments"]] == [
        (risk_class["high"], "ENROLLMENT_SOURCE_RISK_LIST")
    ]
    # Bad input and someone else's class, through REST.
    bad = rest(mesh, "POST", path, {"classId": "not-a-uuid", "dryRun": True}, token=teacher)
    assert bad.status == 400
    unknown = rest(mesh, "POST", path, {"classId": str(uuid.uuid4()), "dryRun": True}, token=teacher)
    assert unknown.status == 400 and "class_id" in json.dumps(unknown.body)
    other = rest(
        mesh,
        "POST",
        "/v1/users",
        {
            "user": {"email": f"t-{uuid.uuid4().hex[:8]}@demo.test", "roles": ["ROLE_TEACHER"]},
            "password": "pw-12345678",
        },
        token=risk_class["admin"],
    )
    assert other.status == 200, other.body
    stranger = login(mesh, other.body["email"], "pw-12345678")
    refused = rest(mesh, "POST", path, {"classId": risk_class["class_id"], "dryRun": True}, token=stranger)
    assert refused.status == 403, refused.body


# --- a year of attendance, exported in pages ------------------------------------------------------

INTERVENTIONS, STUDENTS, WEEKS = 10, 12, 36


@pytest.fixture(scope="module")
def year(mesh):
    """A tenant of its own with a school year: 10 interventions x 3 sessions a week x 36 weeks, 12
    students each, every session attended (12,960 attendance events, ~6 MB of Ed-Fi JSON). The
    interventions are created through the API; enrollments and attendance are written in bulk into
    the mesh's database (the API would take minutes for them)."""
    slug = f"year-{uuid.uuid4().hex[:6]}"
    with grpc.insecure_channel(mesh.grpc_addr) as ch:
        tenant = id_grpc.IdentityServiceStub(ch).CreateTenant(
            id_pb.CreateTenantRequest(
                tenant=id_resources.Tenant(slug=slug, display_name="A year of MTSS"),
                admin_email=f"head@{slug}.test",
                admin_password="year-password",
            ),
            metadata=bearer(login(mesh, "operator@demo.test")),
            timeout=10,
        )
    admin = login(mesh, f"head@{slug}.test", "year-password", tenant=slug)
    admin_id = _me(mesh, admin)
    begin = date(2026, 8, 31)
    with grpc.insecure_channel(mesh.grpc_addr) as ch:
        stub = pb_grpc.MtssServiceStub(ch)
        made = [
            stub.CreateIntervention(
                pb.CreateInterventionRequest(
                    intervention=_intervention(admin_id, f"Room {n}", begin, WEEKS, code=f"YEAR-{n:02d}")
                ),
                metadata=bearer(admin),
                timeout=30,
            )
            for n in range(INTERVENTIONS)
        ]
    tenant_id = tenant.id

    async def load() -> None:
        db = Database(mesh.database_url, pool_size=1)
        try:
            for m in made:
                async with db.transaction(tenant_id) as session:
                    students = [str(uuid.uuid4()) for _ in range(STUDENTS)]
                    await store.insert_enrollments(
                        session,
                        tenant_id,
                        [
                            p.Enrollment(
                                str(uuid.uuid4()), m.id, s, "manual", "screened", admin_id, None, begin
                            )
                            for s in students
                        ],
                    )
                    for k, s in enumerate(await store.list_sessions(session, m.id)):
                        await store.upsert_attendance(
                            session,
                            tenant_id,
                            m.id,
                            [
                                p.Attendance(
                                    s.id,
                                    sid,
                                    "present" if (k + j) % 7 else "absent",
                                    30,
                                    recorded_by=admin_id,
                                )
                                for j, sid in enumerate(students)
                            ],
                        )
        finally:
            await db.dispose()

    asyncio.run(load())
    return {"tenant_id": tenant_id, "admin": admin, "admin_id": admin_id}


def test_a_year_of_attendance_streams_in_pages_over_grpc_and_round_trips(mesh, year):
    events = INTERVENTIONS * STUDENTS * 3 * WEEKS
    with grpc.insecure_channel(mesh.grpc_addr) as ch:  # gRPC's default 4 MB receive limit
        stub = pb_grpc.MtssServiceStub(ch)
        with pytest.raises(grpc.RpcError) as err:  # the single-message export cannot carry the year
            stub.ExportEdFi(pb.ExportEdFiRequest(), metadata=bearer(year["admin"]), timeout=60)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        pages = list(
            stub.StreamEdFiExport(pb.StreamEdFiExportRequest(), metadata=bearer(year["admin"]), timeout=120)
        )
    sizes = [page.ByteSize() for page in pages]
    assert sum(sizes) > FOUR_MB and max(sizes) < FOUR_MB / 2
    order = [page.resource for page in pages]
    assert order == sorted(
        order,
        key=["interventions", "studentInterventionAssociations", "studentInterventionAttendanceEvents"].index,
    )
    counted: dict[str, int] = {}
    for page in pages:
        assert page.count == len(json.loads(page.json)) <= 1000
        counted[page.resource] = counted.get(page.resource, 0) + page.count
    assert counted == {
        "interventions": INTERVENTIONS,
        "studentInterventionAssociations": INTERVENTIONS * STUDENTS,
        "studentInterventionAttendanceEvents": events,
    }
    joined = join_pages([(page.resource, page.json) for page in pages])

    async def round_trip() -> tuple[str, str, str]:
        db = Database(mesh.database_url, pool_size=1)
        try:
            service = MtssService(db, Outbox("mtss", "mtss"), MtssConfig())
            ours = Principal(year["admin_id"], year["tenant_id"], frozenset({"admin"}))
            whole = await service.export_edfi(ours)  # what ExportEdFi would say, had it room
            elsewhere = Principal(str(uuid.uuid4()), str(uuid.uuid4()), frozenset({"admin"}))
            counts = await service.import_edfi(elsewhere, joined)
            assert (counts.interventions, counts.enrollments, counts.attendance) == (
                INTERVENTIONS,
                INTERVENTIONS * STUDENTS,
                events,
            )
            again = [(r, t) async for r, t, _ in service.export_edfi_pages(elsewhere, 5000)]
            return whole, joined, join_pages(again)
        finally:
            await db.dispose()

    whole, joined, reimported = asyncio.run(round_trip())
    assert joined == whole  # the pages are ExportEdFi's document, in its order
    assert reimported == joined  # and our import reads them back whole


def _sse(mesh, token: str, query: str) -> tuple[list[dict], int]:
    """StreamEdFiExport through Envoy as server-sent events: the pages and the bytes received."""
    request = urllib.request.Request(
        f"{mesh.rest_url}/v1/mtss/edfi/export:stream?{query}", headers={"Authorization": f"Bearer {token}"}
    )
    pages = []
    received = 0
    with urllib.request.urlopen(request, timeout=120) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream"), resp.headers
        for raw in resp:
            received += len(raw)
            line = raw.decode().strip()
            if line.startswith("data:"):
                pages.append(json.loads(line.removeprefix("data:")))
    return pages, received


def test_a_year_of_attendance_streams_as_server_sent_events_through_rest(mesh, year):
    pages, received = _sse(mesh, year["admin"], "pageSize=2000")
    assert received > FOUR_MB
    attended = [
        d
        for page in pages
        if page["resource"] == "studentInterventionAttendanceEvents"
        for d in json.loads(page["json"])
    ]
    assert len(attended) == INTERVENTIONS * STUDENTS * 3 * WEEKS
    assert all(page["count"] <= 2000 for page in pages)
    assert {d["interventionReference"]["interventionIdentificationCode"] for d in attended} == {
        f"YEAR-{n:02d}" for n in range(INTERVENTIONS)
    }
    # One resource only: the enrollments, by themselves.
    only, _ = _sse(mesh, year["admin"], "pageSize=5000&resources=studentInterventionAssociations")
    assert [(page["resource"], page["count"]) for page in only] == [
        ("studentInterventionAssociations", INTERVENTIONS * STUDENTS)
    ]
    # Only admins export; page_size and resources are checked like any field.
    teacher = login(mesh, "teacher@demo.test")
    assert rest(mesh, "GET", "/v1/mtss/edfi/export:stream", token=teacher).status == 403
    assert rest(mesh, "GET", "/v1/mtss/edfi/export:stream?pageSize=-1", token=year["admin"]).status == 400
    bad = rest(mesh, "GET", "/v1/mtss/edfi/export:stream?resources=students", token=year["admin"])
    assert bad.status == 400 and "resources" in json.dumps(bad.body)
