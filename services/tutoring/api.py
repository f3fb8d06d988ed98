"""TutoringService over gRPC: proto in (convert.py), one service call, proto out (convert.py)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from learnflow.tutoring.v1 import resources_pb2 as pb
from learnflow.tutoring.v1 import tutoring_service_pb2 as api_pb
from learnflow.tutoring.v1 import tutoring_service_pb2_grpc as pb_grpc

from services.runtime import request_context
from services.tutoring import convert
from services.tutoring.service import TutoringService

_caller = request_context.require_principal


class TutoringApi(pb_grpc.TutoringServiceServicer):
    def __init__(self, service: TutoringService):
        self.service = service

    async def AskQuestion(self, request: api_pb.AskQuestionRequest, context: object) -> pb.ChatMessage:
        asked = await self.service.ask(
            _caller(), request.conversation_id, request.text, request.code, request.error
        )
        return convert.message_to_proto(asked)

    async def SubmitCode(self, request: api_pb.SubmitCodeRequest, context: object) -> pb.ChatMessage:
        submitted = await self.service.submit_code(
            _caller(), request.conversation_id, request.code, request.text
        )
        return convert.message_to_proto(submitted)

    async def RequestExercise(
        self, request: api_pb.RequestExerciseRequest, context: object
    ) -> pb.ChatMessage:
        asked = await self.service.request_exercise(
            _caller(),
            request.conversation_id,
            request.topic,
            convert.difficulty_from_proto(request.difficulty),
            request.variation,
        )
        return convert.message_to_proto(asked)

    async def GetConversation(
        self, request: api_pb.GetConversationRequest, context: object
    ) -> api_pb.GetConversationResponse:
        conversation, messages, token = await self.service.conversation(
            _caller(), request.conversation_id, request.page_size, request.page_token
        )
        return api_pb.GetConversationResponse(
            conversation=convert.conversation_to_proto(conversation),
            messages=[convert.message_to_proto(m) for m in messages],
            next_page_token=token,
        )

    async def ListConversations(
        self, request: api_pb.ListConversationsRequest, context: object
    ) -> api_pb.ListConversationsResponse:
        conversations, token = await self.service.conversations(
            _caller(), request.page_size, request.page_token
        )
        return api_pb.ListConversationsResponse(
            conversations=[convert.conversation_to_proto(c) for c in conversations], next_page_token=token
        )

    async def ResearchTopic(
        self, request: api_pb.ResearchTopicRequest, context: object
    ) -> api_pb.ResearchTopicResponse:
        found = await self.service.research(_caller(), request.topic, request.difficulty, request.max_sources)
        return convert.research_to_proto(found)

    async def AnalyseResearch(
        self, request: api_pb.AnalyseResearchRequest, context: object
    ) -> api_pb.AnalyseResearchResponse:
        found = await self.service.analyse(_caller(), request.topic, request.summary, request.key_points)
        return convert.analysis_to_proto(found)

    async def StreamConversation(
        self, request: api_pb.StreamConversationRequest, context: object
    ) -> AsyncIterator[pb.ChatMessage]:
        stream = self.service.stream(
            _caller(), request.conversation_id, request.after_sequence, request.max_wait_seconds
        )
        async with contextlib.aclosing(stream):  # the watcher goes when the client does
            async for message in stream:
                yield convert.message_to_proto(message)
