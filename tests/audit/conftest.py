"""The ``audit_store`` fixture: one opened AuditStore per backend of ``audit_samples.AUDIT_BACKENDS``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.audit.audit_samples import AUDIT_BACKENDS, build_audit_store
from tidegate.audit.base import AuditStore


@pytest.fixture(params=AUDIT_BACKENDS)
def audit_backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
async def audit_store(audit_backend: str, tmp_path: Path) -> AsyncIterator[AuditStore]:
    store = await build_audit_store(audit_backend, tmp_path)
    try:
        yield store
    finally:
        await store.close()
