"""Fixtures shared by the chain tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.chains._target import Target


@pytest.fixture
def target() -> Iterator[Target]:
    """A loopback HTTP server playing the steps' remote endpoints (test_http.py keeps one per module)."""
    remote = Target().start()
    try:
        yield remote
    finally:
        remote.stop()
