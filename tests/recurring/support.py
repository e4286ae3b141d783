"""A recurring action to create in tests, built like the router builds one."""

from __future__ import annotations

from datetime import UTC, datetime

from tidegate.model.ids import new_id
from tidegate.recurring.record import RecurringAction

START = datetime(2026, 2, 10, 12, 0, tzinfo=UTC)


def draft(cron_expr: str = "* * * * *", **changes: object) -> RecurringAction:
    action = RecurringAction(
        recurring_id=new_id(),
        namespace="reports",
        tenant="tenant-1",
        cron_expr=cron_expr,
        timezone="UTC",
        enabled=True,
        provider="log",
        action_type="daily_report",
        payload={"report": "sales"},
        metadata={"team": "ops"},
        dedup_key="report-{{recurring_id}}-{{execution_time}}",
        description=None,
        next_execution=None,
        last_executed_at=None,
        execution_count=0,
        ends_at=None,
        max_executions=None,
        created_at=START,
        updated_at=START,
    )
    return action.replace(**changes)
