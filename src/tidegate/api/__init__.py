"""The HTTP layer: FastAPI routers over the services, one error table, one edge middleware."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tidegate.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    """Load the app on first use, so the SDK can read the wire schemas without importing the server."""
    if name == "create_app":
        from tidegate.api.app import create_app

        return create_app
    raise AttributeError(f"module 'tidegate.api' has no attribute {name!r}")
