"""The audit trail: the AuditStore protocol, its backends and payload redaction."""

from tidegate.audit.base import AuditPage, AuditQuery, AuditStore

__all__ = ["AuditPage", "AuditQuery", "AuditStore"]
