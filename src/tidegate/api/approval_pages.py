"""The approval HTML pages (api.md §7): confirm, status, result and error, small and self-contained.

No scripts and no external resources (the CSP allows nothing else); every value is escaped, since
namespaces, messages and rule names come from clients and rule files. The confirm page's one form posts
back to the request's own path and query, so the signature travels in the POST exactly as it came."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from starlette.responses import HTMLResponse

from tidegate.api.html import html_response
from tidegate.approvals import Approval, Decision, DecisionResult
from tidegate.model.time import format_ts

__all__ = ["APPROVAL_CSP", "confirm_page", "error_page", "result_page", "status_page"]

#: api.md §7: inline styles only, forms only to this origin, never framed.
APPROVAL_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#222}"
    "th{text-align:left;padding:.25rem 1rem .25rem 0;vertical-align:top}td{padding:.25rem 0}"
    "button{font-size:1rem;padding:.5rem 1.5rem;margin-top:1rem}"
)
_LABELS = {Decision.APPROVE: "Approve", Decision.REJECT: "Reject"}


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )


def _table(rows: Iterable[tuple[str, str | None]]) -> str:
    cells = "".join(f"<tr><th>{escape(name)}</th><td>{escape(value or '')}</td></tr>" for name, value in rows)
    return f"<table>{cells}</table>"


def _summary(approval: Approval) -> list[tuple[str, str | None]]:
    action = approval.action
    return [
        ("Namespace", approval.namespace),
        ("Tenant", approval.tenant),
        ("Action type", action.action_type),
        ("Provider", action.provider),
        ("Rule", approval.rule),
        ("Message", approval.message),
        ("Expires at", format_ts(approval.expires_at)),
    ]


def confirm_page(approval: Approval, decision: Decision, form_action: str) -> HTMLResponse:
    """What an approve/reject link shows on GET: the facts and one button that POSTs (GET never decides)."""
    label = _LABELS[decision]
    form = (
        f'<form method="post" action="{escape(form_action, quote=True)}">'
        f'<button type="submit">{label}</button></form>'
    )
    return html_response(_page(f"{label} this action?", _table(_summary(approval)) + form), APPROVAL_CSP)


def status_page(approval: Approval) -> HTMLResponse:
    decided_at = approval.decided_at
    rows = [
        ("Status", approval.status.value),
        *_summary(approval),
        ("Decided at", None if decided_at is None else format_ts(decided_at)),
        ("Decided by", approval.decided_by),
    ]
    return html_response(_page("Approval", _table(rows)), APPROVAL_CSP)


def result_page(result: DecisionResult) -> HTMLResponse:
    approval = result.approval
    outcome = result.outcome
    rows = [("Status", approval.status.value), ("Decided by", approval.decided_by)]
    if outcome is not None:
        rows.append(("Outcome", str(outcome.get("outcome"))))
    title = "Approved" if approval.status.value == Decision.APPROVE.value else "Rejected"
    return html_response(_page(title, _table(rows)), APPROVAL_CSP)


def error_page(status: int, message: str) -> HTMLResponse:
    """A failed check as HTML, with its status kept (api.md §7)."""
    body = f"<p>{escape(message)}</p>"
    return html_response(_page(f"Error {status}", body), APPROVAL_CSP, status)
