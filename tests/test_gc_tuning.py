"""``serving_gc``: frozen startup objects and higher thresholds while serving, all restored afterwards."""

from __future__ import annotations

import gc
from pathlib import Path

import httpx

from tests.api.conftest import make_settings
from tests.helpers.server import running_server
from tidegate.gc_tuning import SERVING_THRESHOLDS, serving_gc


def test_freezes_and_restores() -> None:
    before = gc.get_threshold()
    frozen_before = gc.get_freeze_count()
    survivor = [object() for _ in range(10)]  # tracked: a list
    with serving_gc():
        assert gc.get_threshold() == SERVING_THRESHOLDS
        assert gc.get_freeze_count() > frozen_before
        assert survivor
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


async def test_the_app_serves_with_the_tuned_collector(tmp_path: Path) -> None:
    before = gc.get_threshold()
    async with running_server(make_settings(tmp_path)) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            assert (await client.get("/health")).status_code == 200
        assert gc.get_threshold() == SERVING_THRESHOLDS
    assert gc.get_threshold() == before
