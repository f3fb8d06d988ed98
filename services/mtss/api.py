"""MtssService over gRPC: proto in, one service call, proto out (convert.py). The runtime's
interceptors have already authenticated the caller, checked the RPC's roles and validated the request
against its (buf.validate.field) rules."""

from __future__ import annotations

from collections.abc import AsyncIterator

from learnflow.mtss.v1 import mtss_service_pb2 as pb
from learnflow.mtss.v1 import mtss_service_pb2_grpc as pb_grpc
from learnflow.mtss.v1 import resources_pb2

from services.mtss import convert
from services.mtss.service import MtssService
from services.runtime import request_context

_caller = request_context.require_principal


class MtssApi(pb_grpc.MtssServiceServicer):
    def __init__(self, service: MtssService):
        self.service = service

    async def ListTemplates(
        self, request: pb.ListTemplatesRequest, context: object
    ) -> pb.ListTemplatesResponse:
        _caller()
        return pb.ListTemplatesResponse(
            templates=[convert.template_to_proto(t) for t in self.service.templates()]
        )

    async def CreateIntervention(
        self, request: pb.CreateInterventionRequest, context: object
    ) -> resources_pb2.Intervention:
        made, count = await self.service.create_intervention(_caller(), convert.new_intervention(request))
        return convert.intervention_to_proto(made, count)

    async def GetIntervention(
        self, request: pb.GetInterventionRequest, context: object
    ) -> resources_pb2.Intervention:
        found, count = await self.service.get_intervention(_caller(), request.intervention_id)
        return convert.intervention_to_proto(found, count)

    async def ListInterventions(
        self, request: pb.ListInterventionsRequest, context: object
    ) -> pb.ListInterventionsResponse:
        found, token = await self.service.list_interventions(
            _caller(), request.query, request.page_size, request.page_token
        )
        return pb.ListInterventionsResponse(
            interventions=[convert.intervention_to_proto(i, count) for i, count in found],
            next_page_token=token,
        )

    async def ReapplyTemplate(
        self, request: pb.ReapplyTemplateRequest, context: object
    ) -> resources_pb2.Intervention:
        found, count = await self.service.reapply_template(
            _caller(), request.intervention_id, request.version, set(request.acknowledged_changes)
        )
        return convert.intervention_to_proto(found, count)

    async def ListSessions(self, request: pb.ListSessionsRequest, context: object) -> pb.ListSessionsResponse:
        found = await self.service.list_sessions(_caller(), request.intervention_id)
        return pb.ListSessionsResponse(sessions=[convert.session_to_proto(s) for s in found])

    async def AdjustSession(self, request: pb.AdjustSessionRequest, context: object) -> resources_pb2.Session:
        updated = await self.service.adjust_session(
            _caller(),
            request.session_id,
            start=convert.timestamp(request, "start_time"),
            room=request.room if request.HasField("room") else None,
            facilitator_id=request.facilitator_id if request.HasField("facilitator_id") else None,
            cancel=request.cancel,
            note=request.note,
        )
        return convert.session_to_proto(updated)

    async def ReassignFacilitator(
        self, request: pb.ReassignFacilitatorRequest, context: object
    ) -> pb.ReassignFacilitatorResponse:
        moved, updated, count = await self.service.reassign_facilitator(
            _caller(),
            request.intervention_id,
            request.from_facilitator_id,
            request.to_facilitator_id,
            convert.timestamp(request, "effective_time"),
        )
        return pb.ReassignFacilitatorResponse(
            sessions_moved=moved, intervention=convert.intervention_to_proto(updated, count)
        )

    async def ScanConflicts(
        self, request: pb.ScanConflictsRequest, context: object
    ) -> pb.ScanConflictsResponse:
        found, scanned = await self.service.scan_conflicts(
            _caller(),
            convert.timestamp(request, "start_time"),
            convert.timestamp(request, "end_time"),
            request.kind,
        )
        return pb.ScanConflictsResponse(
            conflicts=[convert.conflict_to_proto(c) for c in found], sessions_scanned=scanned
        )

    async def EnrollStudents(
        self, request: pb.EnrollStudentsRequest, context: object
    ) -> pb.EnrollStudentsResponse:
        made = await self.service.enroll_students(
            _caller(),
            request.intervention_id,
            list(request.student_ids),
            request.reason,
            convert.date_field(request.begin_date, "begin_date"),
        )
        return pb.EnrollStudentsResponse(enrollments=[convert.enrollment_to_proto(e) for e in made])

    async def EnrollFromRiskList(
        self, request: pb.EnrollFromRiskListRequest, context: object
    ) -> pb.EnrollFromRiskListResponse:
        candidates, made = await self.service.enroll_from_risk_list(
            _caller(),
            request.intervention_id,
            request.csv,
            request.min_risk,
            request.dry_run,
            convert.date_field(request.begin_date, "begin_date"),
            class_id=request.class_id,
            max_students=request.max_students,
        )
        return pb.EnrollFromRiskListResponse(
            candidates=[convert.candidate_to_proto(c) for c in candidates],
            enrollments=[convert.enrollment_to_proto(e) for e in made],
        )

    async def WithdrawStudent(
        self, request: pb.WithdrawStudentRequest, context: object
    ) -> resources_pb2.Enrollment:
        updated = await self.service.withdraw(
            _caller(),
            request.intervention_id,
            request.student_id,
            convert.date_field(request.effective_date, "effective_date"),
            request.reason,
        )
        return convert.enrollment_to_proto(updated)

    async def RecordAttendance(
        self, request: pb.RecordAttendanceRequest, context: object
    ) -> pb.RecordAttendanceResponse:
        saved = await self.service.record_attendance(
            _caller(), request.session_id, convert.attendance_in(request.records)
        )
        return pb.RecordAttendanceResponse(records=[convert.attendance_to_proto(a) for a in saved])

    async def RecordProgress(
        self, request: pb.RecordProgressRequest, context: object
    ) -> resources_pb2.ProgressEntry:
        saved = await self.service.record_progress(
            _caller(), request.intervention_id, convert.progress_in(request.entry)
        )
        return convert.progress_to_proto(saved)

    async def GetStudentDashboard(
        self, request: pb.GetStudentDashboardRequest, context: object
    ) -> resources_pb2.StudentDashboard:
        view = await self.service.student_view(_caller(), request.intervention_id, request.student_id)
        return convert.student_dashboard(request.intervention_id, view)

    async def GetInterventionDashboard(
        self, request: pb.GetInterventionDashboardRequest, context: object
    ) -> resources_pb2.InterventionDashboard:
        return convert.group_dashboard(await self.service.group_view(_caller(), request.intervention_id))

    async def ConfirmExit(self, request: pb.ConfirmExitRequest, context: object) -> resources_pb2.Enrollment:
        updated, _ = await self.service.confirm_exit(
            _caller(), request.intervention_id, request.student_id, request.override_reason
        )
        return convert.enrollment_to_proto(updated)

    async def LinkCaregiver(
        self, request: pb.LinkCaregiverRequest, context: object
    ) -> pb.LinkCaregiverResponse:
        await self.service.link_caregiver(_caller(), request.caregiver_id, request.student_id)
        return pb.LinkCaregiverResponse()

    async def SendCaregiverMessage(
        self, request: pb.SendCaregiverMessageRequest, context: object
    ) -> resources_pb2.Communication:
        sent = await self.service.send_caregiver_message(
            _caller(), request.intervention_id, request.student_id, request.template
        )
        return convert.communication_to_proto(sent)

    async def ListCommunications(
        self, request: pb.ListCommunicationsRequest, context: object
    ) -> pb.ListCommunicationsResponse:
        found = await self.service.list_communications(_caller(), request.student_id)
        return pb.ListCommunicationsResponse(
            communications=[convert.communication_to_proto(c) for c in found]
        )

    async def GetCalendar(self, request: pb.GetCalendarRequest, context: object) -> pb.GetCalendarResponse:
        ics, count = await self.service.calendar(_caller(), request.user_id)
        return pb.GetCalendarResponse(ics=ics, events=count)

    async def ExportEdFi(self, request: pb.ExportEdFiRequest, context: object) -> pb.ExportEdFiResponse:
        return pb.ExportEdFiResponse(json=await self.service.export_edfi(_caller()))

    async def StreamEdFiExport(
        self, request: pb.StreamEdFiExportRequest, context: object
    ) -> AsyncIterator[pb.EdFiExportPage]:
        async for resource, text, count in self.service.export_edfi_pages(
            _caller(), request.page_size, tuple(request.resources)
        ):
            yield pb.EdFiExportPage(resource=resource, json=text, count=count)

    async def ImportEdFi(self, request: pb.ImportEdFiRequest, context: object) -> pb.ImportEdFiResponse:
        counts = await self.service.import_edfi(_caller(), request.json)
        return pb.ImportEdFiResponse(
            interventions=counts.interventions, enrollments=counts.enrollments, attendance=counts.attendance
        )
