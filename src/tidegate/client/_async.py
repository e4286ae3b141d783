"""``AsyncClient``: every endpoint of api.md over one ``httpx.AsyncClient``, plus the three SSE streams.

Each method builds its ``Call`` in ``_calls`` and sends it here. Methods raise the ``_errors`` tree only:
httpx's own errors are translated at the edge. The blocking ``Client`` is generated from this file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from tidegate.api.approval_schemas import Approval
from tidegate.api.breaker_schemas import BreakerChange, BreakerSummary
from tidegate.api.chain_schemas import ChainDefinitionView, ChainDetail, ChainSummary, ExecutionHistory
from tidegate.api.embedding_schemas import SimilarityResult
from tidegate.api.event_state_schemas import EventState, TransitionResult
from tidegate.api.group_schemas import GroupDetail, GroupSummary
from tidegate.api.recurring_schemas import Recurring, RecurringCreated
from tidegate.api.schemas import (
    Counters,
    EnabledResult,
    HealthOk,
    HealthUnavailable,
    LoginToken,
    ReloadResult,
    Rule,
)
from tidegate.client import _calls as calls
from tidegate.client._auth import Credentials
from tidegate.client._calls import ActionLike, Call
from tidegate.client._errors import (
    AuthenticationError,
    StreamInterrupted,
    TidegateClientError,
    TransportError,
    error_from_response,
)
from tidegate.client._models import ApprovalDecision, GroupFlush, Page
from tidegate.client._outcomes import BatchItem, DispatchResult
from tidegate.client._resume import (
    Backoff,
    ConnectionChange,
    ConnectionHook,
    ExecutionFollower,
    Follower,
    StreamFollower,
)
from tidegate.client._sse import FrameDecoder
from tidegate.client._stream_items import (
    DispatchDone,
    DispatchStreamItem,
    ExecutionItem,
    StreamItem,
    parse_dispatch_frame,
)
from tidegate.client._transport import (
    DEFAULT_URL,
    SSE_HEADERS,
    describe,
    http_timeouts,
    notify,
    succeeded,
)
from tidegate.config.chains import ChainDefinition
from tidegate.model.audit import AuditRecord

__all__ = ["AsyncClient"]

T = TypeVar("T")
ItemT = TypeVar("ItemT")


class AsyncClient:
    """A Tidegate client for asyncio code. Use it as ``async with AsyncClient(url, api_key=...) as tg``.

    Credentials: ``api_key``, a ``token`` from an earlier login, or ``username`` and ``password`` (the
    client logs in when first needed and again when the token is refused). ``timeout`` bounds each plain
    request; ``stream_idle_timeout`` is how long a stream may stay silent (the server pings every 15 s by
    default) before the client treats the connection as dead and reconnects. ``backoff`` paces
    reconnections."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        api_key: str | None = None,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        stream_idle_timeout: float = 60.0,
        backoff: Backoff | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._credentials = Credentials(api_key, token, username, password)
        self._backoff = backoff or Backoff()
        self._stream_timeout = http_timeouts(timeout, stream_idle_timeout)
        self._http = httpx.AsyncClient(
            base_url=base_url, timeout=timeout, headers=dict(headers or {}), transport=transport
        )

    @property
    def base_url(self) -> str:
        return str(self._http.base_url)

    @property
    def token(self) -> str | None:
        """The bearer token in use (from ``token=`` or the last login), or None."""
        return self._credentials.token

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- sending -------------------------------------------------------------------------------------

    async def _request(self, call: Call[Any]) -> httpx.Response:
        headers = {**self._credentials.headers(), **call.headers}
        content = None
        if call.has_body:
            content = call.content()
            headers["Content-Type"] = "application/json"
        try:
            return await self._http.request(
                call.method, call.path, params=call.params, content=content, headers=headers
            )
        except httpx.TransportError as exc:
            raise TransportError(describe(exc)) from exc

    async def _send(self, call: Call[T]) -> T:
        await self._ensure_login()
        response = await self._request(call)
        if response.status_code == 401 and await self._relogin():
            response = await self._request(call)
        if not succeeded(response, call.ok):
            raise error_from_response(response, response.content)
        return call.read(response)

    async def _ensure_login(self) -> None:
        login = self._credentials.login
        if self._credentials.needs_login and login is not None:
            await self.login(*login)

    async def _relogin(self) -> bool:
        """After a 401: log in afresh when the refused credential was a token from our own login."""
        login = self._credentials.login
        if login is None or self._credentials.token is None:
            return False
        self._credentials.token = None
        await self.login(*login)
        return True

    # --- health, metrics, docs -----------------------------------------------------------------------

    async def health(self) -> HealthOk | HealthUnavailable:
        """The status report; a 503 answer is returned too (``status`` ``unavailable``), not raised."""
        return await self._send(calls.health())

    async def metrics(self) -> Counters:
        return await self._send(calls.metrics())

    async def metrics_prometheus(self) -> str:
        return await self._send(calls.metrics_prometheus())

    async def openapi(self) -> dict[str, Any]:
        return await self._send(calls.openapi())

    # --- dispatch ------------------------------------------------------------------------------------

    async def dispatch(
        self,
        action: ActionLike,
        *,
        dry_run: bool = False,
        traceparent: str | None = None,
        tracestate: str | None = None,
    ) -> DispatchResult:
        """Run one action through the pipeline; any outcome (``failed`` too) is a result, not an error."""
        return await self._send(calls.dispatch(action, dry_run, traceparent, tracestate))

    async def dispatch_batch(
        self,
        actions: Sequence[ActionLike],
        *,
        dry_run: bool = False,
        traceparent: str | None = None,
        tracestate: str | None = None,
    ) -> list[BatchItem]:
        """One item per action, in order; a bad item is an item error, never an exception."""
        return await self._send(calls.dispatch_batch(actions, dry_run, traceparent, tracestate))

    async def dispatch_stream(
        self,
        action: ActionLike,
        *,
        follow: bool = False,
        timeout: float | None = None,  # noqa: ASYNC109 - the server's follow limit, sent as a parameter
        dry_run: bool = False,
        traceparent: str | None = None,
        tracestate: str | None = None,
    ) -> AsyncIterator[DispatchStreamItem]:
        """Watch one dispatch (stream.md §3) up to its ``DispatchDone``; with ``follow`` a started chain's
        history entries come too, for up to ``timeout`` seconds. Never resumed: a drop raises
        ``StreamInterrupted`` (the dispatch itself runs on and is audited)."""
        call = calls.dispatch_stream(action, follow, timeout, dry_run, traceparent, tracestate)
        await self._ensure_login()
        headers = {**self._credentials.headers(), **call.headers, **SSE_HEADERS}
        headers["Content-Type"] = "application/json"
        action_id: str | None = None
        try:
            async with self._http.stream(
                "POST",
                call.path,
                params=call.params,
                content=call.content(),
                headers=headers,
                timeout=self._stream_timeout,
            ) as response:
                if response.status_code != 200:
                    raise error_from_response(response, await response.aread())
                decoder = FrameDecoder()
                async for line in response.aiter_lines():
                    frame = decoder.feed(line)
                    if frame is None:
                        continue
                    item = parse_dispatch_frame(frame)
                    action_id = action_id or getattr(item, "action_id", None)
                    yield item
                    if isinstance(item, DispatchDone):
                        return
        except httpx.TransportError as exc:
            if action_id is None:
                raise TransportError(describe(exc)) from exc
            raise StreamInterrupted(f"dispatch stream lost: {describe(exc)}", action_id) from exc
        raise StreamInterrupted("the dispatch stream ended before done", action_id)

    # --- the resumable streams -----------------------------------------------------------------------

    def stream(
        self,
        *,
        namespace: str | None = None,
        tenant: str | None = None,
        action_type: str | None = None,
        outcome: str | None = None,
        event_type: str | None = None,
        chain_id: str | None = None,
        group_id: str | None = None,
        action_id: str | None = None,
        last_event_id: str | None = None,
        on_connection: ConnectionHook | None = None,
        max_retries: int | None = None,
    ) -> AsyncIterator[StreamItem]:
        """Follow ``GET /v1/stream`` for ever: ``StreamEvent`` items, and ``Lagged`` where events were lost.

        A dropped connection is resumed with ``Last-Event-ID`` after a backoff, so no retained event is
        lost or repeated; ``on_connection`` hears of every connect and loss. Errors that retrying cannot
        fix (401, 403, ``invalid_filter``, ``streaming_disabled``) are raised, as is the last error once
        ``max_retries`` failures in a row have happened."""
        query = calls.stream_filters(
            namespace=namespace,
            tenant=tenant,
            action_type=action_type,
            outcome=outcome,
            event_type=event_type,
            chain_id=chain_id,
            group_id=group_id,
            action_id=action_id,
        )
        follower = StreamFollower(last_event_id, self._backoff, max_retries)
        return self._follow("/v1/stream", query, follower, on_connection)

    def execution_events(
        self,
        execution_id: str,
        *,
        timeout: float | None = None,
        namespace: str | None = None,
        tenant: str | None = None,
        last_seq: int | None = None,
        on_connection: ConnectionHook | None = None,
        max_retries: int | None = None,
    ) -> AsyncIterator[ExecutionItem]:
        """Follow one chain run: its history entries in ``seq`` order, then ``ExecutionDone`` (the run
        ended, or the server's ``timeout`` passed), after which iteration stops. Drops are resumed after
        the last ``seq`` without gaps or repeats."""
        query = calls.params(timeout=timeout, namespace=namespace, tenant=tenant)
        start = None if last_seq is None else str(last_seq)
        follower = ExecutionFollower(start, self._backoff, max_retries)
        return self._follow(calls.execution_stream_path(execution_id), query, follower, on_connection)

    async def _follow(
        self, path: str, query: calls.Params, follower: Follower[ItemT], hook: ConnectionHook | None
    ) -> AsyncIterator[ItemT]:
        relogged = False
        while True:
            try:
                async for item in self._connect(path, query, follower, hook):
                    relogged = False
                    yield item
                if follower.finished:
                    return
                raise TransportError("the server ended the stream")
            except httpx.TransportError as exc:
                error: TidegateClientError = TransportError(describe(exc))
            except TidegateClientError as exc:
                error = exc
            if isinstance(error, AuthenticationError) and not relogged and await self._relogin():
                relogged = True
                continue
            delay = follower.failed(error)
            notify(
                hook,
                ConnectionChange("disconnected", follower.failures, follower.last_event_id, error, delay),
            )
            await asyncio.sleep(delay)

    async def _connect(
        self, path: str, query: calls.Params, follower: Follower[ItemT], hook: ConnectionHook | None
    ) -> AsyncIterator[ItemT]:
        await self._ensure_login()
        headers = {**self._credentials.headers(), **follower.headers(), **SSE_HEADERS}
        timeout = self._stream_timeout
        async with self._http.stream("GET", path, params=query, headers=headers, timeout=timeout) as response:
            if response.status_code != 200:
                raise error_from_response(response, await response.aread())
            notify(hook, ConnectionChange("connected", follower.failures, follower.last_event_id))
            decoder = FrameDecoder()
            async for line in response.aiter_lines():
                follower.activity()
                frame = decoder.feed(line)
                if frame is None:
                    continue
                item = follower.handle(frame)
                if item is not None:
                    yield item
                if follower.finished:
                    return

    # --- rules ---------------------------------------------------------------------------------------

    async def rules(self) -> list[Rule]:
        """Every rule in evaluation order, with its effective ``enabled``."""
        return await self._send(calls.rules())

    async def reload_rules(self) -> ReloadResult:
        """Re-read the rule files; on any error ``applied`` is false and the old set stays in force."""
        return await self._send(calls.reload_rules())

    async def set_rule_enabled(self, name: str, enabled: bool) -> EnabledResult:
        return await self._send(calls.set_rule_enabled(name, enabled))

    # --- audit ---------------------------------------------------------------------------------------

    async def audit(
        self,
        *,
        namespace: str | None = None,
        tenant: str | None = None,
        provider: str | None = None,
        action_type: str | None = None,
        matched_rule: str | None = None,
        caller_id: str | None = None,
        chain_id: str | None = None,
        outcome: str | None = None,
        verdict: str | None = None,
        from_: datetime | None = None,
        to: datetime | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> Page[AuditRecord]:
        """Audit records, newest first; ``from_``/``to`` bound ``dispatched_at`` (inclusive)."""
        return await self._send(calls.audit(calls.filters(locals())))

    async def audit_record(self, action_id: str) -> AuditRecord:
        """The newest record for the action (an approved action's execution, not its hold)."""
        return await self._send(calls.audit_record(action_id))

    # --- events (state machines) ---------------------------------------------------------------------

    async def events(
        self,
        *,
        namespace: str | None = None,
        tenant: str | None = None,
        status: str | None = None,
        state_machine: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> Page[EventState]:
        return await self._send(calls.events(calls.filters(locals())))

    async def event(self, fingerprint: str, *, namespace: str, tenant: str) -> EventState:
        return await self._send(calls.event(fingerprint, namespace, tenant))

    async def transition_event(
        self, fingerprint: str, to_state: str, *, namespace: str, tenant: str
    ) -> TransitionResult:
        return await self._send(calls.transition_event(fingerprint, to_state, namespace, tenant))

    # --- approvals -----------------------------------------------------------------------------------

    async def approvals(
        self,
        *,
        namespace: str | None = None,
        tenant: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> Page[Approval]:
        """Pending approvals by default; ``status="all"`` lists every one."""
        return await self._send(calls.approvals(calls.filters(locals())))

    async def approval(
        self,
        namespace: str,
        tenant: str,
        approval_id: str,
        *,
        sig: str,
        expires_at: int,
        kid: str | None = None,
    ) -> Approval:
        """The signed status view: it needs the link's ``sig`` and ``expires_at``, not credentials."""
        return await self._send(calls.approval(namespace, tenant, approval_id, sig, expires_at, kid))

    async def approve(
        self,
        namespace: str,
        tenant: str,
        approval_id: str,
        *,
        sig: str | None = None,
        expires_at: int | None = None,
        kid: str | None = None,
    ) -> ApprovalDecision:
        """Approve and run the held action. Without ``sig`` the client's credentials decide (they need
        ``dispatch`` and a grant on the approval's tenant); ``decided_by`` is then the caller id, which is
        ``anonymous`` on a server with authentication disabled."""
        return await self._send(calls.decide("approve", namespace, tenant, approval_id, sig, expires_at, kid))

    async def reject(
        self,
        namespace: str,
        tenant: str,
        approval_id: str,
        *,
        sig: str | None = None,
        expires_at: int | None = None,
        kid: str | None = None,
    ) -> ApprovalDecision:
        return await self._send(calls.decide("reject", namespace, tenant, approval_id, sig, expires_at, kid))

    async def decide_link(self, link: str) -> ApprovalDecision:
        """Follow an ``approve_url`` or ``reject_url`` as received (sent to this client's server)."""
        return await self._send(calls.decide_link(link))

    # --- groups --------------------------------------------------------------------------------------

    async def groups(
        self,
        *,
        namespace: str | None = None,
        tenant: str | None = None,
        state: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> Page[GroupSummary]:
        return await self._send(calls.groups(calls.filters(locals())))

    async def group(self, group_key: str) -> GroupDetail:
        return await self._send(calls.group(group_key))

    async def flush_group(self, group_key: str) -> GroupFlush:
        """Flush the group now and close it (``DELETE /v1/groups/{key}``)."""
        return await self._send(calls.flush_group(group_key))

    # --- chains and executions -----------------------------------------------------------------------

    async def chains(
        self,
        *,
        namespace: str | None = None,
        tenant: str | None = None,
        status: str | None = None,
        chain_name: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> Page[ChainSummary]:
        return await self._send(calls.chains(calls.filters(locals())))

    async def chain(
        self, chain_id: str, *, namespace: str | None = None, tenant: str | None = None
    ) -> ChainDetail:
        return await self._send(calls.chain(chain_id, namespace, tenant))

    async def cancel_chain(
        self,
        chain_id: str,
        *,
        reason: str | None = None,
        namespace: str | None = None,
        tenant: str | None = None,
    ) -> ChainDetail:
        return await self._send(calls.cancel_chain(chain_id, reason, namespace, tenant))

    async def execution_history(
        self,
        execution_id: str,
        *,
        after: int | None = None,
        limit: int | None = None,
        namespace: str | None = None,
        tenant: str | None = None,
    ) -> ExecutionHistory:
        return await self._send(calls.execution_history(execution_id, after, limit, namespace, tenant))

    async def chain_definitions(self) -> list[ChainDefinitionView]:
        return await self._send(calls.chain_definitions())

    async def chain_definition(self, name: str) -> ChainDefinitionView:
        return await self._send(calls.chain_definition(name))

    async def put_chain_definition(
        self, name: str, definition: ChainDefinition | Mapping[str, Any]
    ) -> ChainDefinitionView:
        """Create or replace an API-managed definition (config ones answer 409)."""
        return await self._send(calls.put_chain_definition(name, definition))

    async def delete_chain_definition(self, name: str) -> None:
        await self._send(calls.delete_chain_definition(name))

    # --- embeddings, circuit breakers ----------------------------------------------------------------

    async def embedding_similarity(self, text: str, topic: str) -> SimilarityResult:
        return await self._send(calls.embedding_similarity(text, topic))

    async def circuit_breakers(self) -> list[BreakerSummary]:
        return await self._send(calls.circuit_breakers())

    async def trip_circuit_breaker(self, provider: str) -> BreakerChange:
        """Force the provider's breaker open, cluster-wide, until ``reset_circuit_breaker``."""
        return await self._send(calls.change_circuit_breaker(provider, "trip"))

    async def reset_circuit_breaker(self, provider: str) -> BreakerChange:
        return await self._send(calls.change_circuit_breaker(provider, "reset"))

    # --- recurring actions ---------------------------------------------------------------------------

    async def create_recurring(self, spec: Mapping[str, Any]) -> RecurringCreated:
        """``spec`` is the body of api.md §12 (``namespace``, ``tenant``, ``provider``, ``action_type``,
        ``cron_expr``, ...)."""
        return await self._send(calls.create_recurring(spec))

    async def recurring_actions(
        self,
        *,
        namespace: str,
        tenant: str,
        enabled: bool | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> Page[Recurring]:
        return await self._send(calls.recurring_actions(calls.filters(locals())))

    async def recurring(self, recurring_id: str, *, namespace: str, tenant: str) -> Recurring:
        return await self._send(calls.recurring(recurring_id, namespace, tenant))

    async def update_recurring(
        self, recurring_id: str, changes: Mapping[str, Any], *, namespace: str, tenant: str
    ) -> Recurring:
        return await self._send(calls.update_recurring(recurring_id, namespace, tenant, changes))

    async def delete_recurring(self, recurring_id: str, *, namespace: str, tenant: str) -> None:
        await self._send(calls.delete_recurring(recurring_id, namespace, tenant))

    async def pause_recurring(self, recurring_id: str, *, namespace: str, tenant: str) -> Recurring:
        return await self._send(calls.change_recurring(recurring_id, namespace, tenant, "pause"))

    async def resume_recurring(self, recurring_id: str, *, namespace: str, tenant: str) -> Recurring:
        return await self._send(calls.change_recurring(recurring_id, namespace, tenant, "resume"))

    # --- authentication ------------------------------------------------------------------------------

    async def login(self, username: str, password: str) -> LoginToken:
        """Log in and use the token for every later request."""
        call = calls.login(username, password)
        response = await self._request(call)
        if not response.is_success:
            raise error_from_response(response, response.content)
        token = call.read(response)
        self._credentials.token = token.token
        return token

    async def logout(self) -> None:
        """Revoke the token cluster-wide and stop using it."""
        await self._send(calls.logout())
        self._credentials.token = None
