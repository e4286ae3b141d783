"""How ``tidegate tail`` shows things: one coloured line per event, and notices for gaps and reconnects.

Pure: values in, ``rich.text.Text`` out, so tests read exactly what a terminal would show."""

from __future__ import annotations

from rich.text import Text

from tidegate.client import ConnectionChange, Lagged, StreamEvent, event_outcome
from tidegate.model.json import JsonValue
from tidegate.model.time import format_ts

__all__ = ["connection_line", "event_line", "lagged_line"]

OUTCOME_STYLES = {
    "executed": "green",
    "rerouted": "green",
    "deduplicated": "dim",
    "suppressed": "dim",
    "throttled": "yellow",
    "circuit_open": "yellow",
    "failed": "bold red",
    "grouped": "cyan",
    "state_changed": "cyan",
    "pending_approval": "magenta",
    "chain_started": "blue",
}
TYPE_STYLES = {
    "action_dispatched": "bold",
    "approval_required": "magenta",
    "approval_resolved": "magenta",
    "timeout": "yellow",
    "chain_completed": "blue",
    "chain_advanced": "blue",
    "chain_step_completed": "blue",
}
_TYPE_WIDTH = 21  # the longest type, chain_step_completed, plus one
_OUTCOME_WIDTH = 16


def _status(event: StreamEvent) -> tuple[str, str]:
    """The ``outcome`` column: the outcome of a dispatch, else the type's own state word."""
    fields = event.fields
    outcome = event_outcome(event)
    if outcome is not None:
        return outcome, OUTCOME_STYLES.get(outcome, "")
    for key in ("decision", "new_status", "new_state", "step_status", "status"):
        value = fields.get(key)
        if isinstance(value, str):
            style = "red" if value in ("failed", "rejected", "expired", "timed_out") else "cyan"
            return value, style
    if "event_count" in fields:
        return f"{fields['event_count']} events", "cyan"
    return "-", "dim"


def _detail(event: StreamEvent) -> str:
    """What a person needs next to the columns: a failure's reason, a throttle's wait, a chain's step."""
    fields = event.fields
    outcome: JsonValue = fields.get("outcome")
    if isinstance(outcome, dict):
        failed = outcome.get("Failed")
        if isinstance(failed, dict):
            return f"{failed.get('code')}: {failed.get('message')} (attempts: {failed.get('attempts')})"
        throttled = outcome.get("Throttled")
        if isinstance(throttled, dict) and isinstance(throttled.get("retry_after"), dict):
            return f"retry after {throttled['retry_after'].get('secs')} s"  # type: ignore[union-attr]
        rerouted = outcome.get("Rerouted")
        if isinstance(rerouted, dict):
            return f"-> {rerouted.get('new_provider')}"
    parts = []
    for key in ("rule", "chain_name", "step_name", "fingerprint", "group_id", "chain_id", "approval_id"):
        value = fields.get(key)
        if isinstance(value, str):
            parts.append(f"{key}={value}")
    return " ".join(parts[:2])


def event_line(event: StreamEvent) -> Text:
    """``time  tenant/namespace  type  outcome  provider  action id  [detail]``."""
    status, status_style = _status(event)
    provider = event.fields.get("provider")
    line = Text(no_wrap=True)
    line.append(format_ts(event.timestamp)[:-4] + "Z", style="dim")
    line.append("  ")
    line.append(f"{event.tenant}/{event.namespace}", style="bold cyan")
    line.append("  ")
    line.append(event.type.value.ljust(_TYPE_WIDTH), style=TYPE_STYLES.get(event.type.value, ""))
    line.append(status.ljust(_OUTCOME_WIDTH), style=status_style)
    line.append((provider if isinstance(provider, str) else "-").ljust(12))
    line.append(event.action_id or "-", style="dim")
    detail = _detail(event)
    if detail:
        line.append("  ")
        line.append(detail, style=status_style if status == "failed" else "")
    return line


def lagged_line(lagged: Lagged) -> Text:
    if lagged.skipped is None:
        return Text(
            "!! lagged: the resume position left the server's replay window "
            f"({lagged.reason}); events may be missing before this line",
            style="bold yellow",
        )
    return Text(
        f"!! lagged: {lagged.skipped} events were dropped because this terminal fell behind",
        style="bold yellow",
    )


def connection_line(change: ConnectionChange, url: str, *, first: bool) -> Text:
    if change.state == "connected":
        if first:
            return Text(f"-- connected to {url}", style="dim")
        after = f" after {change.last_event_id}" if change.last_event_id else ""
        return Text(f"-- reconnected to {url}; resuming{after}", style="green")
    wait = f"{change.retry_in:.1f} s" if change.retry_in is not None else "a moment"
    return Text(
        f"!! connection lost ({change.error}); reconnecting in {wait} (attempt {change.attempt})",
        style="bold yellow",
    )
