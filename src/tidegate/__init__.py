"""Tidegate: an action gateway with YAML rules, an audit trail and live event streaming."""

__version__ = "0.1.0"
