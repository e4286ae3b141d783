"""The HTTP layer: FastAPI routers over the services, one error table, one edge middleware."""

from tidegate.api.app import create_app

__all__ = ["create_app"]
