"""The ``store`` fixture: one opened StateStore per backend of ``store_backends.BACKENDS``, all driven
by the same ManualClock (``clock``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.store.store_backends import BACKENDS, build_store
from tidegate.clock import ManualClock
from tidegate.store.base import StateStore


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
async def store(backend: str, clock: ManualClock, tmp_path: Path) -> AsyncIterator[StateStore]:
    opened = await build_store(backend, clock, tmp_path)
    try:
        yield opened
    finally:
        await opened.close()
