"""A failed test that ran on real ``tidegate serve`` processes shows the end of their logs."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from tests.cluster.processes import ProcessCluster


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, ProcessCluster):
                report.sections.append(("tidegate serve logs", value.logs()))
    return report
