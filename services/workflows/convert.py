"""The one place where workflows's domain objects and its protobuf messages meet: resources out, and the
events the service layer stages (it calls the `*_event` functions and hands the message to the outbox
unopened)."""

from __future__ import annotations

from learnflow.workflows.v1 import events_pb2, resources_pb2

from services.workflows.domain import Item

# --- resources out ---------------------------------------------------------------------------------


def item_to_proto(item: Item) -> resources_pb2.Item:
    msg = resources_pb2.Item(id=item.id, display_name=item.display_name)
    if item.created_at:
        msg.create_time.FromDatetime(item.created_at)
    return msg


# --- events out ------------------------------------------------------------------------------------


def item_created_event(item: Item) -> events_pb2.ItemCreated:
    return events_pb2.ItemCreated(item=item_to_proto(item))
