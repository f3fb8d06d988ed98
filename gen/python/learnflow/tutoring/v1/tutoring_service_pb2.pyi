from buf.validate import validate_pb2 as _validate_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from learnflow.auth.v1 import auth_pb2 as _auth_pb2
from learnflow.tutoring.v1 import resources_pb2 as _resources_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AskQuestionRequest(_message.Message):
    __slots__ = ("conversation_id", "text", "code", "error")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    text: str
    code: str
    error: str
    def __init__(self, conversation_id: _Optional[str] = ..., text: _Optional[str] = ..., code: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class SubmitCodeRequest(_message.Message):
    __slots__ = ("conversation_id", "code", "text")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    code: str
    text: str
    def __init__(self, conversation_id: _Optional[str] = ..., code: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class RequestExerciseRequest(_message.Message):
    __slots__ = ("conversation_id", "topic", "difficulty", "variation")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    DIFFICULTY_FIELD_NUMBER: _ClassVar[int]
    VARIATION_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    topic: str
    difficulty: _resources_pb2.Difficulty
    variation: int
    def __init__(self, conversation_id: _Optional[str] = ..., topic: _Optional[str] = ..., difficulty: _Optional[_Union[_resources_pb2.Difficulty, str]] = ..., variation: _Optional[int] = ...) -> None: ...

class GetConversationRequest(_message.Message):
    __slots__ = ("conversation_id", "page_size", "page_token")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    page_size: int
    page_token: str
    def __init__(self, conversation_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class GetConversationResponse(_message.Message):
    __slots__ = ("conversation", "messages", "next_page_token")
    CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    conversation: _resources_pb2.Conversation
    messages: _containers.RepeatedCompositeFieldContainer[_resources_pb2.ChatMessage]
    next_page_token: str
    def __init__(self, conversation: _Optional[_Union[_resources_pb2.Conversation, _Mapping]] = ..., messages: _Optional[_Iterable[_Union[_resources_pb2.ChatMessage, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListConversationsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListConversationsResponse(_message.Message):
    __slots__ = ("conversations", "next_page_token")
    CONVERSATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    conversations: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Conversation]
    next_page_token: str
    def __init__(self, conversations: _Optional[_Iterable[_Union[_resources_pb2.Conversation, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class StreamConversationRequest(_message.Message):
    __slots__ = ("conversation_id", "after_sequence", "max_wait_seconds")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    MAX_WAIT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    after_sequence: int
    max_wait_seconds: int
    def __init__(self, conversation_id: _Optional[str] = ..., after_sequence: _Optional[int] = ..., max_wait_seconds: _Optional[int] = ...) -> None: ...

class ResearchTopicRequest(_message.Message):
    __slots__ = ("topic", "difficulty", "max_sources")
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    DIFFICULTY_FIELD_NUMBER: _ClassVar[int]
    MAX_SOURCES_FIELD_NUMBER: _ClassVar[int]
    topic: str
    difficulty: str
    max_sources: int
    def __init__(self, topic: _Optional[str] = ..., difficulty: _Optional[str] = ..., max_sources: _Optional[int] = ...) -> None: ...

class ResearchSource(_message.Message):
    __slots__ = ("title", "ref", "excerpt")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    EXCERPT_FIELD_NUMBER: _ClassVar[int]
    title: str
    ref: str
    excerpt: str
    def __init__(self, title: _Optional[str] = ..., ref: _Optional[str] = ..., excerpt: _Optional[str] = ...) -> None: ...

class ResearchTopicResponse(_message.Message):
    __slots__ = ("summary", "key_points", "sources", "produced_by", "usage")
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    KEY_POINTS_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    PRODUCED_BY_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    summary: str
    key_points: _containers.RepeatedScalarFieldContainer[str]
    sources: _containers.RepeatedCompositeFieldContainer[ResearchSource]
    produced_by: str
    usage: ModelUsage
    def __init__(self, summary: _Optional[str] = ..., key_points: _Optional[_Iterable[str]] = ..., sources: _Optional[_Iterable[_Union[ResearchSource, _Mapping]]] = ..., produced_by: _Optional[str] = ..., usage: _Optional[_Union[ModelUsage, _Mapping]] = ...) -> None: ...

class AnalyseResearchRequest(_message.Message):
    __slots__ = ("topic", "summary", "key_points")
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    KEY_POINTS_FIELD_NUMBER: _ClassVar[int]
    topic: str
    summary: str
    key_points: str
    def __init__(self, topic: _Optional[str] = ..., summary: _Optional[str] = ..., key_points: _Optional[str] = ...) -> None: ...

class AnalyseResearchResponse(_message.Message):
    __slots__ = ("headline", "takeaways", "produced_by", "usage")
    HEADLINE_FIELD_NUMBER: _ClassVar[int]
    TAKEAWAYS_FIELD_NUMBER: _ClassVar[int]
    PRODUCED_BY_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    headline: str
    takeaways: _containers.RepeatedScalarFieldContainer[str]
    produced_by: str
    usage: ModelUsage
    def __init__(self, headline: _Optional[str] = ..., takeaways: _Optional[_Iterable[str]] = ..., produced_by: _Optional[str] = ..., usage: _Optional[_Union[ModelUsage, _Mapping]] = ...) -> None: ...

class ModelUsage(_message.Message):
    __slots__ = ("model", "prompt_tokens", "completion_tokens")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    model: str
    prompt_tokens: int
    completion_tokens: int
    def __init__(self, model: _Optional[str] = ..., prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ...) -> None: ...
