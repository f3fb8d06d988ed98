"""Rows to protos and back. A message's body is the ChatMessage in proto JSON, without the fields
its columns hold (id, conversation, sequence, time)."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from learnflow.tutoring.v1 import resources_pb2 as pb

_COLUMNS = ("id", "conversation_id", "sequence", "create_time")


def body_of(message: pb.ChatMessage) -> dict[str, Any]:
    copy = pb.ChatMessage()
    copy.CopyFrom(message)
    for name in _COLUMNS:
        copy.ClearField(name)
    return json_format.MessageToDict(copy, preserving_proto_field_name=True)


def message_from_row(row: Any) -> pb.ChatMessage:
    message = json_format.ParseDict(row.body, pb.ChatMessage(), ignore_unknown_fields=True)
    message.id = str(row.id)
    message.conversation_id = str(row.conversation_id)
    message.sequence = row.sequence
    message.create_time.FromDatetime(row.created_at)
    return message


def conversation_from_row(row: Any) -> pb.Conversation:
    conversation = pb.Conversation(id=str(row.id), student_id=row.student_id)
    conversation.create_time.FromDatetime(row.created_at)
    conversation.update_time.FromDatetime(row.updated_at)
    return conversation


ROUTE_NAMES = {
    "concept": pb.ROUTE_CONCEPT,
    "debug": pb.ROUTE_DEBUG,
    "code_review": pb.ROUTE_CODE_REVIEW,
    "exercise": pb.ROUTE_EXERCISE,
    "off_topic": pb.ROUTE_OFF_TOPIC,
    "unclear": pb.ROUTE_UNCLEAR,
}
ROUTE_SLUGS = {v: k for k, v in ROUTE_NAMES.items()}

DIFFICULTIES = {
    pb.DIFFICULTY_EASY: "easy",
    pb.DIFFICULTY_MEDIUM: "medium",
    pb.DIFFICULTY_HARD: "hard",
}
DIFFICULTY_OF = {v: k for k, v in DIFFICULTIES.items()}
