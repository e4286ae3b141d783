"""Approvals (features.md §15): hold an action until a signed link or a credentialed caller decides."""

from tidegate.approvals.record import LINK, Approval, ApprovalStatus, Decision
from tidegate.approvals.repository import ApprovalRef
from tidegate.approvals.service import Approvals, DecisionResult
from tidegate.approvals.signing import Link, LinkKeys, SigningKey, approval_urls

__all__ = [
    "LINK",
    "Approval",
    "ApprovalRef",
    "ApprovalStatus",
    "Approvals",
    "Decision",
    "DecisionResult",
    "Link",
    "LinkKeys",
    "SigningKey",
    "approval_urls",
]
