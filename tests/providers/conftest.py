from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tidegate.providers import WebhookClient, new_http_client, new_webhook_client

from ._support import LocalHttpServer


@pytest.fixture
async def http_server() -> AsyncIterator[LocalHttpServer]:
    server = LocalHttpServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """A plain shared client (what Slack posts through)."""
    async with new_http_client() as http:
        yield http


@pytest.fixture
async def webhook_client() -> AsyncIterator[WebhookClient]:
    """A client whose transport checks destination addresses (what webhooks post through)."""
    http = new_webhook_client()
    try:
        yield http
    finally:
        await http.aclose()
