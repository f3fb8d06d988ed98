"""NotifyService over gRPC: proto in, one service call, proto out (convert.py). The runtime's
interceptors have already authenticated the caller, checked the RPC's roles and validated the request
against its (buf.validate.field) rules."""

from __future__ import annotations

from learnflow.notify.v1 import notify_service_pb2 as pb
from learnflow.notify.v1 import notify_service_pb2_grpc as pb_grpc
from learnflow.notify.v1 import resources_pb2

from services.notify import convert
from services.notify.service import NotifyService
from services.runtime import request_context

_caller = request_context.require_principal


class NotifyApi(pb_grpc.NotifyServiceServicer):
    def __init__(self, service: NotifyService):
        self.service = service

    async def SendMessage(self, request: pb.SendMessageRequest, context: object) -> resources_pb2.Delivery:
        sent = await self.service.send_message(_caller(), convert.message_from_proto(request.message))
        return convert.delivery_to_proto(sent)

    async def BatchSendMessages(
        self, request: pb.BatchSendMessagesRequest, context: object
    ) -> pb.BatchSendMessagesResponse:
        sent = await self.service.send_messages(
            _caller(), [convert.message_from_proto(m) for m in request.messages]
        )
        return pb.BatchSendMessagesResponse(deliveries=[convert.delivery_to_proto(d) for d in sent])

    async def RenderPreview(
        self, request: pb.RenderPreviewRequest, context: object
    ) -> pb.RenderPreviewResponse:
        p = await self.service.render_preview(
            _caller(),
            request.template,
            request.template_version,
            request.channel,
            convert.variables_from_proto(request.variables),
        )
        return pb.RenderPreviewResponse(
            subject=p.rendered.subject,
            body=p.rendered.body,
            length=len(p.rendered.body),
            max_length=p.max_length,
            body_format=p.rendered.body_format,
            template_version=p.template_version,
        )

    async def PutTemplate(self, request: pb.PutTemplateRequest, context: object) -> resources_pb2.Template:
        t = request.template
        return convert.template_to_proto(
            await self.service.put_template(_caller(), t.name, t.subject, t.body)
        )

    async def GetTemplate(self, request: pb.GetTemplateRequest, context: object) -> resources_pb2.Template:
        return convert.template_to_proto(
            await self.service.get_template(_caller(), request.name, request.version)
        )

    async def GetDelivery(self, request: pb.GetDeliveryRequest, context: object) -> resources_pb2.Delivery:
        return convert.delivery_to_proto(await self.service.get_delivery(_caller(), request.delivery_id))

    async def ListDeliveries(
        self, request: pb.ListDeliveriesRequest, context: object
    ) -> pb.ListDeliveriesResponse:
        found, token = await self.service.list_deliveries(
            _caller(), convert.filter_from_proto(request), request.page_size, request.page_token
        )
        return pb.ListDeliveriesResponse(
            deliveries=[convert.delivery_to_proto(d) for d in found], next_page_token=token
        )

    async def RedriveDelivery(
        self, request: pb.RedriveDeliveryRequest, context: object
    ) -> resources_pb2.Delivery:
        return convert.delivery_to_proto(await self.service.redrive(_caller(), request.delivery_id))

    async def ListInAppMessages(
        self, request: pb.ListInAppMessagesRequest, context: object
    ) -> pb.ListInAppMessagesResponse:
        found, token = await self.service.list_inbox(
            _caller(), request.page_size, request.page_token, request.unread_only
        )
        return pb.ListInAppMessagesResponse(
            messages=[convert.in_app_to_proto(d) for d in found], next_page_token=token
        )

    async def MarkInAppMessageRead(
        self, request: pb.MarkInAppMessageReadRequest, context: object
    ) -> resources_pb2.InAppMessage:
        return convert.in_app_to_proto(await self.service.mark_read(_caller(), request.message_id))

    async def SetQuietHours(
        self, request: pb.SetQuietHoursRequest, context: object
    ) -> resources_pb2.QuietHours:
        q = request.quiet_hours
        saved = await self.service.set_quiet_hours(
            _caller(), q.user_id, q.start, q.end, q.time_zone, q.enabled
        )
        return convert.quiet_hours_to_proto(saved)

    async def GetQuietHours(
        self, request: pb.GetQuietHoursRequest, context: object
    ) -> resources_pb2.QuietHours:
        return convert.quiet_hours_to_proto(await self.service.get_quiet_hours(_caller(), request.user_id))
