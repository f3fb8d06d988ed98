"""ProgressService over gRPC: proto in, domain call, proto out."""

from __future__ import annotations

from datetime import UTC, datetime

from learnflow.progress.v1 import progress_service_pb2 as pb
from learnflow.progress.v1 import progress_service_pb2_grpc as pb_grpc
from learnflow.progress.v1 import resources_pb2

from services.progress import convert, store
from services.progress.domain import streaks as streak_model
from services.progress.service import ProgressService
from services.runtime import request_context
from services.runtime.errors import FieldViolation, InvalidArgument

_caller = request_context.require_principal


class ProgressApi(pb_grpc.ProgressServiceServicer):
    def __init__(self, service: ProgressService):
        self.service = service

    async def RecordActivity(
        self, request: pb.RecordActivityRequest, context: object
    ) -> pb.RecordActivityResponse:
        kind = convert.kind_from_proto(request.activity.kind)
        if kind is None:
            raise InvalidArgument(
                "activity.kind is required",
                [FieldViolation("activity.kind", "must be one of the ACTIVITY_KIND_* values")],
            )
        activity = convert.activity_from_proto(request.activity, kind, datetime.now(UTC))
        recorded = await self.service.record(_caller(), activity)
        response = pb.RecordActivityResponse(applied=recorded.applied)
        m = recorded.mastery
        if m is not None:
            response.mastery.CopyFrom(
                convert.mastery_to_proto(
                    recorded.topic, m.score, m.weight, m.level.name, m.attempts, m.last_at
                )
            )
        return response

    async def GetProgress(
        self, request: pb.GetProgressRequest, context: object
    ) -> resources_pb2.StudentProgress:
        caller = _caller()
        student, topics, recent, streak = await self.service.progress(caller, request.student_id)
        student_id = caller.subject if request.student_id == "me" else request.student_id
        tz = student.time_zone if student else "UTC"
        return resources_pb2.StudentProgress(
            student_id=student_id,
            topics=[
                convert.mastery_to_proto(t.topic, t.score, t.evidence, t.level, t.attempts, t.updated_at)
                for t in topics
            ],
            streak=convert.streak_to_proto(
                streak_model.current_streak(streak, datetime.now(UTC), tz),
                streak.longest,
                streak.last_active_date,
            ),
            recent_activity=[convert.activity_to_proto(r) for r in recent],
            open_alerts=student.open_alerts if student else 0,
        )

    async def ListClassSummaries(
        self, request: pb.ListClassSummariesRequest, context: object
    ) -> pb.ListClassSummariesResponse:
        rows, token = await self.service.class_summaries(
            _caller(), request.class_id, request.page_size, request.page_token, request.order_by
        )
        now = datetime.now(UTC)
        summaries = []
        for r in rows:
            streak = store.state_from_json(streak_model.StreakState, r.streak)
            item = resources_pb2.StudentSummary(
                student_id=r.student_id,
                mean_mastery=r.mean_mastery or 0.0,
                topics_mastered=r.topics_mastered or 0,
                open_alerts=r.open_alerts or 0,
                risk=r.risk or 0.0,
                streak=convert.streak_to_proto(
                    streak_model.current_streak(streak, now, r.time_zone or "UTC"),
                    streak.longest,
                    streak.last_active_date,
                ),
            )
            if r.last_active_at:
                item.last_active_time.FromDatetime(r.last_active_at)
            summaries.append(item)
        return pb.ListClassSummariesResponse(summaries=summaries, next_page_token=token)

    async def CreateClass(
        self, request: pb.CreateClassRequest, context: object
    ) -> resources_pb2.StudentClass:
        c = request.__getattribute__("class")
        class_id, teachers = await self.service.create_class(
            _caller(), c.name, list(c.teacher_ids), list(c.student_ids)
        )
        return resources_pb2.StudentClass(
            id=class_id, name=c.name.strip(), teacher_ids=teachers, student_ids=sorted(set(c.student_ids))
        )

    async def ListStruggleAlerts(
        self, request: pb.ListStruggleAlertsRequest, context: object
    ) -> pb.ListStruggleAlertsResponse:
        state = convert.ALERT_STATE_NAMES.get(request.state) if request.state else None
        rows, token = await self.service.list_alerts(
            _caller(), state, request.student_id, request.page_size, request.page_token
        )
        return pb.ListStruggleAlertsResponse(
            alerts=[convert.alert_to_proto(r) for r in rows], next_page_token=token
        )

    async def AcknowledgeAlert(
        self, request: pb.AcknowledgeAlertRequest, context: object
    ) -> resources_pb2.StruggleAlert:
        return convert.alert_to_proto(
            await self.service.change_alert(_caller(), request.alert_id, store.ACKNOWLEDGED)
        )

    async def ResolveAlert(
        self, request: pb.ResolveAlertRequest, context: object
    ) -> resources_pb2.StruggleAlert:
        return convert.alert_to_proto(
            await self.service.change_alert(_caller(), request.alert_id, store.RESOLVED)
        )
