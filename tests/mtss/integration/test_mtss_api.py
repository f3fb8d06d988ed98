"""mtss through its gRPC API and REST on the session's shared mesh: the events it publishes, bad
input (INVALID_ARGUMENT naming the field, 400 over REST), who may do what, withdrawal, calendars and
the Ed-Fi export. The whole story is test_mtss_done_when.py; the rules in detail test_mtss_service.py."""

import asyncio
import json
import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import grpc
import nats
import pytest
from google.rpc import error_details_pb2, status_pb2
from learnflow.mtss.v1 import events_pb2, resources_pb2
from learnflow.mtss.v1 import mtss_service_pb2 as pb
from learnflow.mtss.v1 import mtss_service_pb2_grpc as pb_grpc

from services.mtss import store
from services.mtss.domain import interop
from services.mtss.domain import programs as p
from services.mtss.domain.schedule import Schedule
from services.runtime.db import Database
from services.runtime.testing import bearer, login, new_student, rest

NY = "America/New_York"


@pytest.fixture(scope="module")
def stub(mesh):
    with grpc.insecure_channel(mesh.grpc_addr) as channel:
        yield pb_grpc.MtssServiceStub(channel)


@pytest.fixture(scope="module")
def teacher(mesh):
    return login(mesh, "teacher@demo.test")


@pytest.fixture(scope="module")
def teacher_id(mesh, teacher):
    return rest(mesh, "GET", "/v1/users/me", token=teacher).body["id"]


def _intervention(teacher_id: str, **kw) -> resources_pb2.Intervention:
    today = datetime.now(ZoneInfo(NY)).date()
    begin = today - timedelta(days=today.weekday())
    fields = dict(
        template_key="math-fluency",
        name="Math facts",
        objectives=["Add within 20 fluently"],
        owner_id=teacher_id,
        room=f"Room {uuid.uuid4().hex[:8]}",
        goal=resources_pb2.Goal(baseline=10, target=40, goal_date=(begin + timedelta(weeks=8)).isoformat()),
        begin_date=begin.isoformat(),
        end_date=(begin + timedelta(weeks=10)).isoformat(),
        schedule=resources_pb2.Schedule(rrule="FREQ=WEEKLY;BYDAY=TU,TH", start_time="10:00", time_zone=NY),
    )
    fields.update(kw)
    return resources_pb2.Intervention(**fields)


def _field_violations(err: grpc.RpcError) -> set[str]:
    fields = set()
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            for detail in status_pb2.Status.FromString(value).details:
                bad = error_details_pb2.BadRequest()
                if detail.Unpack(bad):
                    fields.update(v.field for v in bad.field_violations)
    return fields


def test_creation_enrollment_attendance_and_withdrawal_are_published(mesh, stub, teacher, teacher_id):
    meta = bearer(teacher)
    student = new_student(mesh)

    async def main():
        nc = await nats.connect(mesh.nats_url)
        try:
            sub = await nc.subscribe("mtss.>")
            await nc.flush()
            request = pb.CreateInterventionRequest(
                intervention=_intervention(teacher_id), use_template_objectives=False
            )
            made = await asyncio.to_thread(stub.CreateIntervention, request, metadata=meta, timeout=10)
            enroll = pb.EnrollStudentsRequest(
                intervention_id=made.id, student_ids=[student["id"]], begin_date=made.begin_date
            )
            await asyncio.to_thread(stub.EnrollStudents, enroll, metadata=meta, timeout=10)
            sessions = await asyncio.to_thread(
                stub.ListSessions, pb.ListSessionsRequest(intervention_id=made.id), metadata=meta, timeout=10
            )
            record = resources_pb2.AttendanceRecord(
                student_id=student["id"],
                status=resources_pb2.ATTENDANCE_STATUS_TARDY,
                minutes=20,
                reason_code="BUS",
            )
            attend = pb.RecordAttendanceRequest(session_id=sessions.sessions[0].id, records=[record])
            await asyncio.to_thread(stub.RecordAttendance, attend, metadata=meta, timeout=10)
            withdraw = pb.WithdrawStudentRequest(
                intervention_id=made.id, student_id=student["id"], reason="moved"
            )
            await asyncio.to_thread(stub.WithdrawStudent, withdraw, metadata=meta, timeout=10)
            seen: dict[str, bytes] = {}
            wanted = {
                "mtss.intervention.created",
                "mtss.enrollment.created",
                "mtss.attendance.recorded",
                "mtss.enrollment.withdrawn",
            }
            while not wanted <= set(seen):
                msg = await sub.next_msg(timeout=30)
                if made.id.encode() in msg.data:  # other tests publish too
                    seen[msg.subject] = msg.data
            return made, sessions, seen
        finally:
            await nc.close()

    made, sessions, seen = asyncio.run(main())
    assert made.session_count == len(sessions.sessions) == 20 and made.minutes_per_week == 60
    created = events_pb2.InterventionCreated.FromString(seen["mtss.intervention.created"])
    assert created.intervention.id == made.id and created.intervention.session_count == 20
    attended = events_pb2.AttendanceRecorded.FromString(seen["mtss.attendance.recorded"])
    assert [(r.status, r.minutes, r.reason_code) for r in attended.records] == [
        (resources_pb2.ATTENDANCE_STATUS_TARDY, 20, "BUS")
    ]
    withdrawn = events_pb2.EnrollmentWithdrawn.FromString(seen["mtss.enrollment.withdrawn"])
    assert (
        withdrawn.enrollment.status == resources_pb2.ENROLLMENT_STATUS_WITHDRAWN
        and withdrawn.enrollment.end_date
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"objectives": []}, "intervention.objectives"),
        ({"owner_id": ""}, "intervention.owner_id"),
        ({"schedule": None}, "intervention.schedule"),
        (
            {"schedule": resources_pb2.Schedule(rrule="FREQ=WEEKLY;BYDAY=XX", time_zone=NY)},
            "intervention.schedule.rrule",
        ),
        (
            {"schedule": resources_pb2.Schedule(rrule="FREQ=WEEKLY", time_zone="Nowhere/Else")},
            "intervention.schedule.time_zone",
        ),
        (
            {"schedule": resources_pb2.Schedule(rrule="FREQ=WEEKLY", start_time="25:00", time_zone=NY)},
            "intervention.schedule.start_time",
        ),
        ({"begin_date": "2026-02-30"}, "intervention.begin_date"),
        ({"template_key": "no-such-template"}, "intervention.template_key"),
        ({"owner_id": str(uuid.uuid4())}, "intervention.owner_id"),
    ],
    ids=[
        "objective",
        "owner",
        "schedule",
        "rrule",
        "zone",
        "start-time",
        "date",
        "template",
        "owner-unknown",
    ],
)
def test_a_bad_intervention_is_invalid_argument_naming_the_field(stub, teacher, teacher_id, change, field):
    intervention = _intervention(teacher_id)
    for name, value in change.items():
        if value is None:
            intervention.ClearField(name)
        elif isinstance(value, list):
            del getattr(intervention, name)[:]
        elif isinstance(value, str):
            setattr(intervention, name, value)
        else:
            getattr(intervention, name).CopyFrom(value)
    with pytest.raises(grpc.RpcError) as err:
        stub.CreateIntervention(
            pb.CreateInterventionRequest(intervention=intervention), metadata=bearer(teacher), timeout=10
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in _field_violations(err.value)


def test_roles_and_rest(mesh, stub, teacher, teacher_id):
    student = new_student(mesh)
    refused = rest(
        mesh, "POST", "/v1/mtss/interventions", {"intervention": {"name": "x"}}, token=student["token"]
    )
    assert refused.status == 403
    made = stub.CreateIntervention(
        pb.CreateInterventionRequest(intervention=_intervention(teacher_id)),
        metadata=bearer(teacher),
        timeout=10,
    )
    got = rest(mesh, "GET", f"/v1/mtss/interventions/{made.id}", token=teacher)
    assert got.status == 200 and got.body["code"] == made.code and got.body["sessionCount"] == 20
    assert rest(mesh, "GET", f"/v1/mtss/interventions/{uuid.uuid4()}", token=teacher).status == 404
    assert rest(mesh, "GET", "/v1/mtss/interventions/not-an-id", token=teacher).status == 400
    assert rest(mesh, "GET", f"/v1/mtss/interventions/{made.id}").status == 401
    # Teachers may not export the tenant; admins may, in Ed-Fi's shapes.
    assert rest(mesh, "GET", "/v1/mtss/edfi/export", token=teacher).status == 403
    exported = rest(mesh, "GET", "/v1/mtss/edfi/export", token=login(mesh, "admin@demo.test"))
    assert exported.status == 200 and made.code in exported.body["json"]
    templates = rest(mesh, "GET", "/v1/mtss/templates", token=teacher).body["templates"]
    assert {(t["key"], t["version"]) for t in templates} >= {("reading-group", 1), ("reading-group", 2)}
    # A student reads their own calendar of sessions, not someone else's.
    stub.EnrollStudents(
        pb.EnrollStudentsRequest(intervention_id=made.id, student_ids=[student["id"]]),
        metadata=bearer(teacher),
        timeout=10,
    )
    mine = rest(mesh, "GET", "/v1/mtss/calendars/me", token=student["token"])
    assert (
        mine.status == 200 and mine.body["ics"].startswith("BEGIN:VCALENDAR\r\n") and mine.body["events"] > 0
    )
    assert rest(mesh, "GET", f"/v1/mtss/calendars/{teacher_id}", token=student["token"]).status == 403


def test_interventions_are_listed_a_page_at_a_time_and_found_by_text(mesh, stub, teacher, teacher_id):
    marker = uuid.uuid4().hex[:8]
    made = [
        stub.CreateIntervention(
            pb.CreateInterventionRequest(
                intervention=_intervention(
                    teacher_id, name=f"Listing {marker} {n}", room=f"Room {marker}-{n}"
                )
            ),
            metadata=bearer(teacher),
            timeout=10,
        )
        for n in range(3)
    ]
    # Found by a piece of the name, case-insensitively, two to a page, in code order, with sessions.
    seen, token = [], ""
    for _ in range(5):
        page = rest(
            mesh,
            "GET",
            f"/v1/mtss/interventions?query=LISTING%20{marker}&pageSize=2&pageToken={token}",
            token=teacher,
        )
        assert page.status == 200
        seen += page.body.get("interventions", [])
        token = page.body.get("nextPageToken", "")
        if not token:
            break
    assert [i["id"] for i in seen] == [m.id for m in sorted(made, key=lambda m: m.code)]
    assert all(i["sessionCount"] == 20 for i in seen)
    # A LIKE wildcard in the text is literal; a made-up page token is refused; students may not list.
    assert (
        rest(mesh, "GET", f"/v1/mtss/interventions?query={marker}%25x", token=teacher).body["interventions"]
        == []
    )
    bad = rest(mesh, "GET", "/v1/mtss/interventions?pageToken=forged", token=teacher)
    assert bad.status == 400 and "page_token" in str(bad.body)
    assert rest(mesh, "GET", "/v1/mtss/interventions", token=new_student(mesh)["token"]).status == 403
    # The facilitator demo user reads the same list (they take attendance in these programs).
    facilitator = login(mesh, "facilitator@demo.test")
    listed = rest(mesh, "GET", f"/v1/mtss/interventions?query={marker}", token=facilitator)
    assert listed.status == 200 and len(listed.body["interventions"]) == 3


# --- input at the edges: INVALID_ARGUMENT naming the field, and nothing changed --------------------


def _listed(stub, token: str, text: str) -> list[str]:
    found = stub.ListInterventions(
        pb.ListInterventionsRequest(query=text), metadata=bearer(token), timeout=10
    )
    return [i.code for i in found.interventions]


@pytest.mark.parametrize(
    ("begin", "end", "goal", "zone", "start"),
    [
        ("0001-01-01", "0001-02-01", "0001-01-20", "Asia/Tokyo", "08:00"),  # UTC is in year 0
        ("9999-11-01", "9999-12-31", "9999-12-20", "America/Los_Angeles", "23:00"),  # ... in year 10000
        ("1899-12-01", "1900-01-31", "1900-01-20", NY, "10:00"),  # before the bound
        ("2999-12-01", "3000-01-31", "3000-01-20", NY, "10:00"),  # after it
    ],
    ids=["year-1-east", "year-9999-west", "before-1900", "after-2999"],
)
def test_dates_outside_1900_to_2999_are_refused_naming_them(
    stub, teacher, teacher_id, begin, end, goal, zone, start
):
    marker = f"Edge {uuid.uuid4().hex[:8]}"
    intervention = _intervention(
        teacher_id,
        name=marker,
        begin_date=begin,
        end_date=end,
        goal=resources_pb2.Goal(baseline=10, target=40, goal_date=goal),
        schedule=resources_pb2.Schedule(rrule="FREQ=WEEKLY;BYDAY=MO", start_time=start, time_zone=zone),
    )
    with pytest.raises(grpc.RpcError) as err:
        stub.CreateIntervention(
            pb.CreateInterventionRequest(intervention=intervention), metadata=bearer(teacher), timeout=10
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    fields = _field_violations(err.value)
    out_of_range = {
        path
        for path, text in (
            ("intervention.begin_date", begin),
            ("intervention.end_date", end),
            ("intervention.goal.goal_date", goal),
        )
        if not "1900-01-01" <= text <= "2999-12-31"
    }
    assert out_of_range and out_of_range <= fields, fields
    assert _listed(stub, teacher, marker) == []


def _intervention_id(stub, teacher, teacher_id) -> str:
    made = stub.CreateIntervention(
        pb.CreateInterventionRequest(intervention=_intervention(teacher_id)),
        metadata=bearer(teacher),
        timeout=10,
    )
    return made.id


@pytest.mark.parametrize(
    ("csv", "words"),
    [
        ("student_id,risk\r{student},0.9\r", "carriage return"),  # old Mac line endings
        ("student_id,risk,reason\n{student},0.9," + "x" * 131_073 + "\n", "131072"),  # csv's field limit
    ],
    ids=["cr-line-endings", "field-too-long"],
)
def test_a_risk_list_that_is_not_csv_is_refused_on_the_csv_field(mesh, stub, teacher, teacher_id, csv, words):
    student = new_student(mesh)
    intervention_id = _intervention_id(stub, teacher, teacher_id)
    request = pb.EnrollFromRiskListRequest(
        intervention_id=intervention_id, csv=csv.format(student=student["id"]), min_risk=0.5
    )
    with pytest.raises(grpc.RpcError) as err:
        stub.EnrollFromRiskList(request, metadata=bearer(teacher), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    assert _field_violations(err.value) == {"csv"}
    assert words in _violation_texts(err.value)
    dashboard = stub.GetInterventionDashboard(
        pb.GetInterventionDashboardRequest(intervention_id=intervention_id),
        metadata=bearer(teacher),
        timeout=10,
    )
    assert list(dashboard.students) == []  # nobody enrolled


def _violation_texts(err: grpc.RpcError) -> str:
    texts = []
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            for detail in status_pb2.Status.FromString(value).details:
                bad = error_details_pb2.BadRequest()
                if detail.Unpack(bad):
                    texts += [v.description for v in bad.field_violations]
    return " ".join(texts)


def test_scores_beyond_a_million_are_refused_and_huge_stored_ones_still_give_dashboards(
    mesh, stub, teacher, teacher_id
):
    student = new_student(mesh)
    meta = bearer(teacher)
    made = stub.CreateIntervention(
        pb.CreateInterventionRequest(intervention=_intervention(teacher_id)), metadata=meta, timeout=10
    )
    stub.EnrollStudents(
        pb.EnrollStudentsRequest(
            intervention_id=made.id, student_ids=[student["id"]], begin_date=made.begin_date
        ),
        metadata=meta,
        timeout=10,
    )
    begin = date.fromisoformat(made.begin_date)

    def entry(weeks: int, score: float) -> resources_pb2.ProgressEntry:
        on = (begin + timedelta(weeks=weeks)).isoformat()
        return resources_pb2.ProgressEntry(student_id=student["id"], date=on, score=score)

    with pytest.raises(grpc.RpcError) as err:
        stub.RecordProgress(
            pb.RecordProgressRequest(intervention_id=made.id, entry=entry(0, 1e200)),
            metadata=meta,
            timeout=10,
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    assert _field_violations(err.value) == {"entry.score"}
    goal = resources_pb2.Goal(baseline=10, target=2e6, goal_date=made.goal.goal_date)
    with pytest.raises(grpc.RpcError) as err:  # a goal is on the same scale
        stub.CreateIntervention(
            pb.CreateInterventionRequest(intervention=_intervention(teacher_id, goal=goal)),
            metadata=meta,
            timeout=10,
        )
    assert _field_violations(err.value) == {"intervention.goal.target"}
    dashboard = pb.GetStudentDashboardRequest(intervention_id=made.id, student_id=student["id"])
    assert not stub.GetStudentDashboard(dashboard, metadata=meta, timeout=10).history  # nothing stored

    async def store_scores_recorded_before_the_bound() -> None:
        db = Database(mesh.database_url, pool_size=1)
        try:
            async with db.transaction(student["tenant"]) as session:
                for weeks, score in ((0, 1e200), (1, 0.0), (2, 0.0)):
                    await store.insert_progress(
                        session,
                        student["tenant"],
                        p.ProgressEntry(
                            str(uuid.uuid4()), made.id, student["id"], begin + timedelta(weeks=weeks),
                            score, 0, "", teacher_id,
                        ),
                    )  # fmt: skip
        finally:
            await db.dispose()

    asyncio.run(store_scores_recorded_before_the_bound())
    view = stub.GetStudentDashboard(dashboard, metadata=meta, timeout=10)
    assert len(view.history) == 3 and view.analysis.ols_slope == pytest.approx(-0.5e200)
    group = stub.GetInterventionDashboard(
        pb.GetInterventionDashboardRequest(intervention_id=made.id), metadata=meta, timeout=10
    )
    assert [row.last_score for row in group.students] == [0.0]
    with pytest.raises(grpc.RpcError) as err:  # not recommended: refused, for the right reason
        stub.ConfirmExit(
            pb.ConfirmExitRequest(intervention_id=made.id, student_id=student["id"]),
            metadata=meta,
            timeout=10,
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION, err.value.details()
    rest_view = rest(
        mesh, "GET", f"/v1/mtss/interventions/{made.id}/students/{student['id']}/dashboard", token=teacher
    )
    assert rest_view.status == 200, rest_view.body


def _edfi_document(code: str, owner_id: str) -> dict:
    """One intervention with two sessions, an enrollment and an attendance event, as ExportEdFi
    writes them (interop's own shapes), under a code of the test's."""
    monday = date(2026, 9, 7)
    intervention = p.Intervention(
        id=str(uuid.uuid4()),
        tenant_id="",
        code=code,
        name="Imported group",
        objectives=("Read fluently",),
        target_population="",
        owner_id=owner_id,
        facilitator_ids=(),
        room=f"Room {code}",
        goal=p.GoalSpec("wcpm", 20, 50, monday + timedelta(weeks=8)),
        minutes_per_week=60,
        begin_date=monday,
        end_date=monday + timedelta(weeks=10),
        schedule=Schedule("FREQ=WEEKLY;BYDAY=MO", time(9, 0), 30, NY),
        template_key="reading-group",
        template_version=1,
    )
    sessions = [
        p.Session(
            str(uuid.uuid4()),
            intervention.id,
            datetime(2026, 9, 7 + 7 * k, 13, tzinfo=UTC),
            datetime(2026, 9, 7 + 7 * k, 13, 30, tzinfo=UTC),
            monday + timedelta(weeks=k),
            intervention.room,
            "",
        )
        for k in range(2)
    ]
    student = str(uuid.uuid4())
    enrollment = p.Enrollment(
        str(uuid.uuid4()), intervention.id, student, "manual", "screened", owner_id, None, monday
    )
    return {
        "interventions": [interop.intervention_doc(intervention, sessions)],
        "studentInterventionAssociations": [interop.enrollment_doc(code, enrollment)],
        "studentInterventionAttendanceEvents": [
            interop.attendance_doc(code, sessions[0], p.Attendance(sessions[0].id, student, "present", 30))
        ],
    }


RAW = "__raw__"  # replaced in the JSON text by a literal json.dumps would not write


@pytest.mark.parametrize(
    ("where", "value", "field"),
    [
        ("interventions.0.minDosage", "1e400", "json.interventions[0].minDosage"),
        (
            "interventions.0._ext.learnflow.goal.baseline",
            "NaN",
            "json.interventions[0]._ext.learnflow.goal.baseline",
        ),
        (
            "interventions.0._ext.learnflow.goal.target",
            '"NaN"',
            "json.interventions[0]._ext.learnflow.goal.target",
        ),
        (
            "studentInterventionAttendanceEvents.0.attendanceEventCategoryDescriptor",
            "1",
            "json.studentInterventionAttendanceEvents[0].attendanceEventCategoryDescriptor",
        ),
        (
            "studentInterventionAttendanceEvents.0.interventionDuration",
            "3000000000",
            "json.studentInterventionAttendanceEvents[0].interventionDuration",
        ),
        (
            "interventions.0._ext.learnflow.template.version",
            "3000000000",
            "json.interventions[0]._ext.learnflow.template.version",
        ),
        (
            "interventions.0._ext.learnflow.name",
            '"Reading\\u0000group"',
            "json.interventions[0]._ext.learnflow.name",
        ),
        (
            "studentInterventionAssociations.0.diagnosticStatement",
            '"screened \\ud800"',
            "json.studentInterventionAssociations[0].diagnosticStatement",
        ),
        (
            "interventions.0._ext.learnflow.schedule.timeZone",
            '"Mars/Olympus"',
            "json.interventions[0]._ext.learnflow.schedule.timeZone",
        ),
        ("interventions.0.beginDate", '"0001-01-01"', "json.interventions[0].beginDate"),
        (
            "interventions.0._ext.learnflow.sessions.1.start",
            '"2026-09-14T13:00:00"',  # no offset: which instant?
            "json.interventions[0]._ext.learnflow.sessions[1].start",
        ),
        (
            "studentInterventionAttendanceEvents.0._ext.learnflow.sessionStart",
            '"2026-09-08T13:00:00+00:00"',
            "json.studentInterventionAttendanceEvents[0]._ext.learnflow.sessionStart",
        ),
    ],
    ids=[
        "dosage-1e400",
        "baseline-nan",
        "target-nan-text",
        "category-number",
        "duration-int4",
        "version-int4",
        "nul",
        "lone-surrogate",
        "zone",
        "year-1",
        "naive-start",
        "no-such-session",
    ],
)
def test_an_ed_fi_import_with_a_bad_value_names_it_and_imports_nothing(
    mesh, stub, teacher_id, where, value, field
):
    admin = login(mesh, "admin@demo.test")
    code = f"IMPORT-{uuid.uuid4().hex[:8].upper()}"
    doc = _edfi_document(code, teacher_id)
    *parents, last = [int(k) if k.isdigit() else k for k in where.split(".")]
    node = doc
    for key in parents:
        node = node[key]
    node[last] = RAW
    bad = json.dumps(doc).replace(f'"{RAW}"', value)
    with pytest.raises(grpc.RpcError) as err:
        stub.ImportEdFi(pb.ImportEdFiRequest(json=bad), metadata=bearer(admin), timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    assert _field_violations(err.value) == {field}
    # Nothing was imported: the same document, corrected, imports whole (an existing code is skipped).
    good = stub.ImportEdFi(
        pb.ImportEdFiRequest(json=json.dumps(_edfi_document(code, teacher_id))),
        metadata=bearer(admin),
        timeout=30,
    )
    assert (good.interventions, good.enrollments, good.attendance) == (1, 1, 1)


# --- work bounded by what a request may say ---------------------------------------------------------

EVERY_SECOND = (
    "FREQ=DAILY;BYHOUR="
    + ",".join(map(str, range(24)))
    + ";BYMINUTE="
    + ",".join(map(str, range(60)))
    + ";BYSECOND="
    + ",".join(map(str, range(60)))
)  # 437 characters: 86,400 occurrences a day for dateutil to walk through


@pytest.mark.parametrize(
    "rule",
    [EVERY_SECOND, "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "FREQ=DAILY;BYMONTHDAY=31;BYMONTH=4,6,9,11"],
    ids=["every-second", "30-february", "31-april"],
)
def test_a_rule_making_too_many_or_no_occurrences_is_refused_on_the_rrule(stub, teacher, teacher_id, rule):
    """The longest intervention (400 days): the first rule made ~3.5e7 occurrences, the others none,
    dateutil walking every day to year 9999. Both answered INVALID_ARGUMENT within the deadline."""
    assert len(rule) <= 500
    marker = f"Spin {uuid.uuid4().hex[:8]}"
    begin = date(2026, 8, 3)
    intervention = _intervention(
        teacher_id,
        name=marker,
        begin_date=begin.isoformat(),
        end_date=(begin + timedelta(days=400)).isoformat(),
        goal=resources_pb2.Goal(baseline=10, target=40, goal_date=(begin + timedelta(days=300)).isoformat()),
        schedule=resources_pb2.Schedule(rrule=rule, start_time="10:00", time_zone=NY),
    )
    with pytest.raises(grpc.RpcError) as err:
        stub.CreateIntervention(
            pb.CreateInterventionRequest(intervention=intervention), metadata=bearer(teacher), timeout=10
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    assert _field_violations(err.value) == {"intervention.schedule.rrule"}
    assert _listed(stub, teacher, marker) == []


def test_a_weekly_rule_over_the_longest_intervention_still_makes_its_sessions(stub, teacher, teacher_id):
    begin = date(2031, 8, 4)  # a Monday, clear of the other tests' rooms and dates
    intervention = _intervention(
        teacher_id,
        begin_date=begin.isoformat(),
        end_date=(begin + timedelta(days=400)).isoformat(),
        goal=resources_pb2.Goal(baseline=10, target=40, goal_date=(begin + timedelta(days=300)).isoformat()),
        schedule=resources_pb2.Schedule(
            rrule="FREQ=WEEKLY;BYDAY=MO,WE;UNTIL=20320101", start_time="10:00", time_zone=NY
        ),
    )
    made = stub.CreateIntervention(
        pb.CreateInterventionRequest(intervention=intervention), metadata=bearer(teacher), timeout=10
    )
    sessions = stub.ListSessions(
        pb.ListSessionsRequest(intervention_id=made.id), metadata=bearer(teacher), timeout=10
    )
    dates = [s.local_date for s in sessions.sessions]
    # Mondays and Wednesdays from 4 August to 31 December 2031: 22 + 22.
    assert len(dates) == 44 and dates[0] == "2031-08-04" and dates[-1] == "2031-12-31", dates


def test_a_conflict_scan_over_more_than_400_days_is_refused_on_end_time(stub, teacher):
    request = pb.ScanConflictsRequest()
    request.start_time.FromDatetime(datetime(1990, 1, 1, tzinfo=UTC))
    request.end_time.FromDatetime(datetime(2990, 1, 1, tzinfo=UTC))
    with pytest.raises(grpc.RpcError) as err:
        stub.ScanConflicts(request, metadata=bearer(teacher), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    assert _field_violations(err.value) == {"end_time"}
    request.end_time.FromDatetime(datetime(1991, 2, 4, tzinfo=UTC))  # 400 days
    assert stub.ScanConflicts(request, metadata=bearer(teacher), timeout=10).sessions_scanned >= 0
