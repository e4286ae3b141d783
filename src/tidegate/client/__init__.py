"""The Tidegate SDK: ``AsyncClient`` and ``Client`` over every endpoint of the HTTP API, typed results
built on the server's own models, one exception tree, and self-resuming SSE streams.

    from tidegate.client import Client, Lagged

    with Client("http://127.0.0.1:8080", api_key="tg_...") as tg:
        result = tg.dispatch({"namespace": "alerts", "tenant": "acme", "provider": "email",
                              "action_type": "send_email", "payload": {"to": "ops@example.com"}})
        print(result.category)
        for item in tg.stream(namespace="alerts"):
            print("lagged" if isinstance(item, Lagged) else item.to_json())
"""

from tidegate.api.chain_schemas import HistoryEntry
from tidegate.client._async import AsyncClient
from tidegate.client._errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    GoneError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitedError,
    ServerError,
    ServiceUnavailableError,
    StreamInterrupted,
    TidegateClientError,
    TransportError,
    UnsupportedMediaTypeError,
    ValidationError,
)
from tidegate.client._models import ApprovalDecision, GroupFlush, Page
from tidegate.client._outcomes import BatchItem, DispatchResult, ErrorInfo
from tidegate.client._resume import Backoff, ConnectionChange
from tidegate.client._stream_items import (
    DispatchDone,
    DispatchStreamEvent,
    DispatchStreamItem,
    ExecutionDone,
    ExecutionItem,
    Lagged,
    StreamItem,
    event_outcome,
)
from tidegate.client._sync import Client
from tidegate.client._transport import DEFAULT_URL
from tidegate.model.event import EventType, StreamEvent

__all__ = [
    "DEFAULT_URL",
    "APIError",
    "ApprovalDecision",
    "AsyncClient",
    "AuthenticationError",
    "Backoff",
    "BadRequestError",
    "BatchItem",
    "Client",
    "ConflictError",
    "ConnectionChange",
    "DispatchDone",
    "DispatchResult",
    "DispatchStreamEvent",
    "DispatchStreamItem",
    "ErrorInfo",
    "EventType",
    "ExecutionDone",
    "ExecutionItem",
    "GoneError",
    "GroupFlush",
    "HistoryEntry",
    "Lagged",
    "MethodNotAllowedError",
    "NotFoundError",
    "Page",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "ProtocolError",
    "RateLimitedError",
    "ServerError",
    "ServiceUnavailableError",
    "StreamEvent",
    "StreamInterrupted",
    "StreamItem",
    "TidegateClientError",
    "TransportError",
    "UnsupportedMediaTypeError",
    "ValidationError",
    "event_outcome",
]
