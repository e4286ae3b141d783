"""Shared state: the StateStore protocol and its backends."""

from tidegate.store.base import ScanPage, StateStore, Versioned

__all__ = ["ScanPage", "StateStore", "Versioned"]
