"""ProgressService over gRPC: proto in (convert.py), one service call, proto out (convert.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from learnflow.progress.v1 import progress_service_pb2 as pb
from learnflow.progress.v1 import progress_service_pb2_grpc as pb_grpc
from learnflow.progress.v1 import resources_pb2

from services.progress import convert
from services.progress.service import ProgressService
from services.runtime import request_context

_caller = request_context.require_principal


class ProgressApi(pb_grpc.ProgressServiceServicer):
    def __init__(self, service: ProgressService):
        self.service = service

    async def RecordActivity(
        self, request: pb.RecordActivityRequest, context: object
    ) -> pb.RecordActivityResponse:
        activity = convert.recorded_activity_from_proto(request.activity, datetime.now(UTC))
        return convert.recorded_to_proto(await self.service.record(_caller(), activity))

    async def GetProgress(
        self, request: pb.GetProgressRequest, context: object
    ) -> resources_pb2.StudentProgress:
        return convert.progress_to_proto(await self.service.progress(_caller(), request.student_id))

    async def ListClassSummaries(
        self, request: pb.ListClassSummariesRequest, context: object
    ) -> pb.ListClassSummariesResponse:
        summaries, token = await self.service.class_summaries(
            _caller(),
            request.class_id,
            request.page_size,
            request.page_token,
            request.order_by,
            request.on_behalf_of,
        )
        return pb.ListClassSummariesResponse(
            summaries=[convert.summary_to_proto(s) for s in summaries], next_page_token=token
        )

    async def CreateClass(
        self, request: pb.CreateClassRequest, context: object
    ) -> resources_pb2.StudentClass:
        c = getattr(request, "class")  # `class` is a Python keyword
        created = await self.service.create_class(_caller(), c.name, list(c.teacher_ids), list(c.student_ids))
        return convert.class_to_proto(created)

    async def ListStudentTeachers(
        self, request: pb.ListStudentTeachersRequest, context: object
    ) -> pb.ListStudentTeachersResponse:
        found = await self.service.student_teachers(_caller(), list(request.student_ids))
        asked = list(dict.fromkeys(s.lower() for s in request.student_ids))  # in order, once each
        return pb.ListStudentTeachersResponse(
            students=[pb.StudentTeachers(student_id=s, teacher_ids=found[s]) for s in asked if s in found]
        )

    async def GetClass(self, request: pb.GetClassRequest, context: object) -> resources_pb2.StudentClass:
        return convert.class_to_proto(await self.service.get_class(_caller(), request.class_id))

    async def ListClasses(self, request: pb.ListClassesRequest, context: object) -> pb.ListClassesResponse:
        found, token = await self.service.list_classes(_caller(), request.page_size, request.page_token)
        return pb.ListClassesResponse(
            classes=[convert.class_to_proto(c) for c in found], next_page_token=token
        )

    async def UpdateClassMembership(
        self, request: pb.UpdateClassMembershipRequest, context: object
    ) -> resources_pb2.StudentClass:
        changed = await self.service.update_membership(
            _caller(), request.class_id, convert.membership_change_from_proto(request)
        )
        return convert.class_to_proto(changed)

    async def DeleteClass(self, request: pb.DeleteClassRequest, context: object) -> pb.DeleteClassResponse:
        await self.service.delete_class(_caller(), request.class_id)
        return pb.DeleteClassResponse()

    async def ListStruggleAlerts(
        self, request: pb.ListStruggleAlertsRequest, context: object
    ) -> pb.ListStruggleAlertsResponse:
        alerts, token = await self.service.list_alerts(
            _caller(),
            convert.alert_state_from_proto(request.state),
            request.student_id,
            request.page_size,
            request.page_token,
        )
        return pb.ListStruggleAlertsResponse(
            alerts=[convert.alert_to_proto(a) for a in alerts], next_page_token=token
        )

    async def AcknowledgeAlert(
        self, request: pb.AcknowledgeAlertRequest, context: object
    ) -> resources_pb2.StruggleAlert:
        return convert.alert_to_proto(await self.service.acknowledge_alert(_caller(), request.alert_id))

    async def ResolveAlert(
        self, request: pb.ResolveAlertRequest, context: object
    ) -> resources_pb2.StruggleAlert:
        return convert.alert_to_proto(await self.service.resolve_alert(_caller(), request.alert_id))
