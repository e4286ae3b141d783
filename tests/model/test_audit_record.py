"""``AuditRecord.encode`` (the stores' fast path) writes the same bytes as encoding ``to_json``."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from tests.audit.audit_samples import make_record
from tidegate.model.audit import AuditRecord
from tidegate.model.json import dumps

_WITH_FRACTION = datetime(2026, 2, 7, 14, 30, 0, 5, tzinfo=UTC)
_WHOLE_SECOND = datetime(2026, 2, 7, 14, 30, tzinfo=UTC)
_OTHER_ZONE = datetime(2026, 2, 7, 16, 30, 0, 250, tzinfo=timezone(timedelta(hours=2)))


@pytest.mark.parametrize("when", [_WITH_FRACTION, _WHOLE_SECOND, _OTHER_ZONE], ids=["us", "whole", "zone"])
def test_encode_equals_encoding_to_json(when: datetime) -> None:
    record = replace(
        make_record(),
        dispatched_at=when,
        completed_at=when + timedelta(microseconds=7),
        starts_at=when,
        ends_at=None,
        expires_at=when + timedelta(days=30),
    )
    assert record.encode() == dumps(record.to_json())
    assert b'"dispatched_at":"' in record.encode()


def test_encode_round_trips() -> None:
    record = replace(make_record(), dispatched_at=_WHOLE_SECOND, completed_at=_WITH_FRACTION)
    assert AuditRecord.from_json(orjson.loads(record.encode())) == record
