"""The approval notification (features.md §15 step 4): straight through the executor, no rules, no audit.

The notification is the only place besides the dispatch response where the signed links travel, so
nothing here logs them: failures are logged with ids only."""

from __future__ import annotations

import logging

from tidegate.approvals.record import Approval
from tidegate.errors import ProviderNotFound
from tidegate.executor.runner import Executor
from tidegate.model.action import Action
from tidegate.model.ids import new_id
from tidegate.model.json import JsonObject
from tidegate.model.outcome import ActionError
from tidegate.model.time import format_ts

__all__ = ["NOTIFICATION_ACTION_TYPE", "Notifier", "notification_payload"]

log = logging.getLogger(__name__)

NOTIFICATION_ACTION_TYPE = "approval_notification"


def notification_payload(approval: Approval, approve_url: str, reject_url: str) -> JsonObject:
    """The payload of features.md §15 step 4, keys in its order."""
    action = approval.action
    text = approval.message or "Approval required"
    return {
        "approval_id": approval.approval_id,
        "action_id": action.id,
        "namespace": action.namespace,
        "tenant": action.tenant,
        "action_type": action.action_type,
        "provider": action.provider,
        "rule": approval.rule,
        "message": approval.message,
        "expires_at": format_ts(approval.expires_at),
        "approve_url": approve_url,
        "reject_url": reject_url,
        "subject": f"Approval required: {action.action_type}",
        "text": f"{text}\nApprove: {approve_url}\nReject: {reject_url}",
    }


class Notifier:
    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    async def send(self, approval: Approval, approve_url: str, reject_url: str) -> bool:
        """True when the notification provider took it (the call ended ``executed``)."""
        origin = approval.action
        notification = Action(
            id=new_id(),
            namespace=origin.namespace,
            tenant=origin.tenant,
            provider=approval.notify_provider,
            action_type=NOTIFICATION_ACTION_TYPE,
            payload=notification_payload(approval, approve_url, reject_url),
            created_at=approval.created_at,
            trace_context=dict(origin.trace_context),
        )
        try:
            result = await self._executor.execute(notification, approval.notify_provider)
        except ProviderNotFound:
            result = ActionError("configuration", "provider not found", False, 0)
        if isinstance(result, ActionError):
            log.warning(
                "approval notification failed (%s); it is retried while the approval is pending",
                result.code,
                extra={
                    "approval_id": approval.approval_id,
                    "action_id": origin.id,
                    "provider": approval.notify_provider,
                },
            )
            return False
        return True
