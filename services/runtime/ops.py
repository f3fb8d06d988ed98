"""OperationsService: the runtime's own API, hosted in every mesh process for the contexts it serves."""

from __future__ import annotations

import sqlalchemy as sa
from learnflow.ops.v1 import operations_service_pb2 as pb
from learnflow.ops.v1 import operations_service_pb2_grpc as pb_grpc

from services.runtime import pagination, request_context
from services.runtime.db import Database
from services.runtime.errors import FieldViolation, InvalidArgument
from services.runtime.events.tables import event_tables


class OperationsServicer(pb_grpc.OperationsServiceServicer):
    def __init__(self, db: Database, contexts: list[str]):
        self.db = db
        self.contexts = contexts

    async def ListDeadLetters(
        self, request: pb.ListDeadLettersRequest, context: object
    ) -> pb.ListDeadLettersResponse:
        if request.context and request.context not in self.contexts:
            raise InvalidArgument(
                "unknown context",
                [FieldViolation("context", f"this process hosts: {', '.join(self.contexts)}")],
            )
        size = pagination.page_size(request.page_size)
        after = pagination.decode_token(request.page_token) or {}
        principal = request_context.principal()
        only_tenant = None if principal is None or principal.has_any("operator") else principal.tenant_id
        selects = []
        for name in [request.context] if request.context else self.contexts:
            dl = event_tables(name).dead_letters
            q = sa.select(sa.literal(name).label("context"), dl).where(
                sa.tuple_(dl.c.created_at, dl.c.id)
                > sa.tuple_(
                    sa.literal(after.get("t", "1970-01-01T00:00:00+00:00")).cast(sa.DateTime(timezone=True)),
                    sa.literal(after.get("id", "00000000-0000-0000-0000-000000000000")).cast(sa.Uuid),
                )
            )
            if only_tenant is not None:
                q = q.where(dl.c.tenant_id == only_tenant)
            selects.append(q)
        union = sa.union_all(*selects).subquery()
        query = sa.select(union).order_by(union.c.created_at, union.c.id).limit(size + 1)
        async with self.db.transaction(tenant_id="") as session:
            rows = (await session.execute(query)).all()
        response = pb.ListDeadLettersResponse()
        for row in rows[:size]:
            item = response.dead_letters.add(
                id=str(row.id),
                context=row.context,
                consumer=row.consumer,
                subject=row.subject,
                event_id=row.event_id,
                event_type=row.event_type,
                reason=row.reason,
                deliveries=row.deliveries,
            )
            item.create_time.FromDatetime(row.created_at)
        if len(rows) > size:
            last = rows[size - 1]
            response.next_page_token = pagination.encode_token(
                {"t": last.created_at.isoformat(), "id": str(last.id)}
            )
        return response
