"""Field paths (rules.md §5) and key paths (§9)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from tidegate.model.json import JsonValue
from tidegate.rules import (
    EvalContext,
    PathError,
    compile_field,
    key_hash,
    key_value,
    normalize_key_path,
    walk,
)

from .helpers import NOW, make_action, resolve

EASTERN = ZoneInfo("US/Eastern")
PAYLOAD: JsonValue = {
    "to": "bob@example.com",
    "recipients": [{"email": "a@x.io"}, {"email": "b@x.io"}],
    "amount": 1500,
    "nested": {"deep": {"value": [10, 20, [30]]}},
    "0": "digit key",
    "flag": False,
    "nothing": None,
    "text": "abc",
}
ACTION = make_action(
    PAYLOAD,
    metadata={"owner": "ops", "k8s.io/cluster": "eu-1", "a.b": "dotted"},
    dedup_key="welcome-bob",
    created_at=datetime(2026, 2, 7, 14, 30, tzinfo=UTC),
    starts_at=datetime(2026, 2, 7, 15, 0, 0, 123456, tzinfo=UTC),
)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("action.id", "019c3882-7b00-7c21-8d4e-5f6a7b8c9d02"),
        ("action.namespace", "notifications"),
        ("action.tenant", "acme"),
        ("action.provider", "email"),
        ("action.action_type", "send_email"),
        ("action.dedup_key", "welcome-bob"),
        ("action.status", None),
        ("action.fingerprint", None),
        ("action.created_at", "2026-02-07T14:30:00.000000Z"),
        ("action.starts_at", "2026-02-07T15:00:00.123456Z"),
        ("action.ends_at", None),
        ("action.payload", PAYLOAD),
        ("action.payload.to", "bob@example.com"),
        ("action.payload.missing", None),
        ("action.payload.recipients.0.email", "a@x.io"),
        ("action.payload.recipients.1.email", "b@x.io"),
        ("action.payload.recipients.2.email", None),
        ("action.payload.recipients.x", None),
        ("action.payload.recipients.-1", None),
        ("action.payload.nested.deep.value.2.0", 30),
        ("action.payload.0", "digit key"),
        ("action.payload.to.0", None),
        ("action.payload.amount.x", None),
        ("action.payload.flag", False),
        ("action.payload.flag.x", None),
        ("action.payload.nothing", None),
        ("action.payload.nothing.x", None),
        ("action.payload.text.length", None),
        ("action.metadata", {"owner": "ops", "k8s.io/cluster": "eu-1", "a.b": "dotted"}),
        ("action.metadata.owner", "ops"),
        ("action.metadata.k8s.io/cluster", "eu-1"),
        ("action.metadata.a.b", "dotted"),
        ("action.metadata.a", None),
        ("action.metadata.missing", None),
    ],
)
def test_action_paths(path: str, expected: JsonValue) -> None:
    assert resolve(path, ACTION) == expected


def test_walk_into_array_root_payload() -> None:
    action = make_action([{"id": 7}, "x"])
    assert resolve("action.payload.0.id", action) == 7
    assert resolve("action.payload.1", action) == "x"
    assert resolve("action.payload.01", action) == "x"  # a segment of ASCII digits is an index
    assert resolve("action.payload.2", action) is None


def test_walk_on_scalar_payload_is_absent() -> None:
    assert resolve("action.payload.x", make_action("text")) is None
    assert walk(5, [("a", -1)]) is None
    assert walk({"a": [1]}, []) == {"a": [1]}


def test_non_ascii_digits_are_not_an_index() -> None:
    assert resolve("action.payload.١", make_action(["zero", "one"])) is None
    assert resolve("action.payload.١", make_action({"١": "arabic one"})) == "arabic one"


@pytest.mark.parametrize(
    ("now", "zone", "expected"),
    [
        # Monday 13:30:15 UTC = Monday 08:30:15 EST
        (
            NOW,
            EASTERN,
            {"year": 2026, "month": 2, "day": 9, "hour": 8, "minute": 30, "second": 15, "weekday": "Monday"},
        ),
        (
            NOW,
            ZoneInfo("UTC"),
            {"year": 2026, "month": 2, "day": 9, "hour": 13, "minute": 30, "second": 15, "weekday": "Monday"},
        ),
        # Monday 03:00 UTC is still Sunday evening in New York
        (
            datetime(2026, 2, 9, 3, 0, tzinfo=UTC),
            EASTERN,
            {"day": 8, "hour": 22, "weekday": "Sunday", "weekday_num": 7},
        ),
        # summer time: UTC-4
        (
            datetime(2026, 7, 1, 12, 0, tzinfo=UTC),
            EASTERN,
            {"hour": 8, "weekday": "Wednesday", "weekday_num": 3},
        ),
        # New Year's Eve in New York while UTC is already in the new year
        (datetime(2027, 1, 1, 2, 0, tzinfo=UTC), EASTERN, {"year": 2026, "month": 12, "day": 31}),
        (
            datetime(2026, 2, 14, 12, 0, tzinfo=UTC),
            ZoneInfo("Asia/Tokyo"),
            {"weekday": "Saturday", "weekday_num": 6},
        ),
    ],
)
def test_time_fields_are_local_to_the_zone(
    now: datetime, zone: ZoneInfo, expected: dict[str, JsonValue]
) -> None:
    for field, value in expected.items():
        assert resolve(f"time.{field}", ACTION, now, zone) == value, field


def test_timestamp_and_now_are_zone_independent_integers() -> None:
    now = datetime(2026, 2, 9, 13, 30, 15, 999999, tzinfo=UTC)
    expected = int(datetime(2026, 2, 9, 13, 30, 15, tzinfo=UTC).timestamp())
    for zone in (EASTERN, ZoneInfo("UTC")):
        assert resolve("time.timestamp", ACTION, now, zone) == expected
        assert resolve("now", ACTION, now, zone) == expected
    assert isinstance(resolve("now", ACTION, now), int)


def test_naive_now_is_taken_as_utc() -> None:
    assert resolve("time.hour", ACTION, datetime(2026, 2, 9, 13, 30), EASTERN) == 8


def test_local_time_is_computed_once_per_zone() -> None:
    ctx = EvalContext(ACTION, NOW)
    assert ctx.local(EASTERN) is ctx.local(EASTERN)
    assert ctx.local(EASTERN) is not ctx.local(ZoneInfo("UTC"))


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("action.labels.env", "unknown field 'action.labels.env'"),
        ("action", "unknown field 'action'"),
        ("action.trace_context", "unknown field 'action.trace_context'"),
        ("action.namespace.x", "unknown field 'action.namespace.x'"),
        ("action.created_at.year", "unknown field 'action.created_at.year'"),
        ("payload.to", "unknown field 'payload.to'"),
        ("event.x", "unknown field 'event.x'"),
        ("time", "unknown field 'time'"),
        ("time.hours", "unknown field 'time.hours'"),
        ("time.hour.x", "unknown field 'time.hour.x'"),
        ("now.x", "unknown field 'now.x'"),
        ("Action.id", "unknown field 'Action.id'"),
        ("action.payload..x", "empty segment in field 'action.payload..x'"),
        ("action.payload.", "empty segment in field 'action.payload.'"),
        ("action.metadata.", "empty segment in field 'action.metadata.'"),
        (".action.id", "empty segment in field '.action.id'"),
        ("", "empty segment in field ''"),
    ],
)
def test_bad_field_paths_fail_at_load(path: str, reason: str) -> None:
    with pytest.raises(PathError) as info:
        compile_field(path, EASTERN)
    assert str(info.value) == reason


def test_action_only_paths_reject_time() -> None:
    with pytest.raises(PathError):
        compile_field("time.hour", EASTERN, action_only=True)
    with pytest.raises(PathError):
        compile_field("now", EASTERN, action_only=True)
    assert (
        compile_field("action.payload.x", EASTERN, action_only=True)(EvalContext(make_action({"x": 1}), NOW))
        == 1
    )


@pytest.mark.parametrize(
    ("path", "normalized"),
    [
        ("namespace", "namespace"),
        ("action.namespace", "namespace"),
        ("tenant", "tenant"),
        ("provider", "provider"),
        ("action_type", "action_type"),
        ("id", "id"),
        ("status", "status"),
        ("fingerprint", "fingerprint"),
        ("dedup_key", "dedup_key"),
        ("metadata.cluster", "metadata.cluster"),
        ("action.metadata.cluster", "metadata.cluster"),
        ("metadata.k8s.io/cluster", "metadata.k8s.io/cluster"),
        ("payload.to", "payload.to"),
        ("action.payload.recipients.0.email", "payload.recipients.0.email"),
    ],
)
def test_key_paths_normalize(path: str, normalized: str) -> None:
    assert normalize_key_path(path) == normalized


@pytest.mark.parametrize(
    "path",
    [
        "labels.cluster",
        "action.labels.cluster",
        "payload",
        "metadata",
        "action.payload",
        "created_at",
        "time.hour",
        "now",
        "namespace.x",
        "payload..x",
        "metadata.",
        "",
        "action.",
    ],
)
def test_unknown_key_paths(path: str) -> None:
    with pytest.raises(PathError) as info:
        normalize_key_path(path)
    assert path in str(info.value)


def test_unknown_key_path_message() -> None:
    with pytest.raises(PathError, match=r"^unknown field 'labels\.cluster'$"):
        normalize_key_path("labels.cluster")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("namespace", "notifications"),
        ("action.tenant", "acme"),
        ("dedup_key", "welcome-bob"),
        ("status", ""),
        ("fingerprint", ""),
        ("metadata.k8s.io/cluster", "eu-1"),
        ("metadata.missing", ""),
        ("payload.to", "bob@example.com"),
        ("payload.amount", "1500"),
        ("payload.flag", "false"),
        ("payload.nothing", ""),
        ("payload.missing", ""),
        ("payload.recipients", '[{"email":"a@x.io"},{"email":"b@x.io"}]'),
        ("payload.nested", '{"deep":{"value":[10,20,[30]]}}'),
    ],
)
def test_key_value(path: str, expected: str) -> None:
    assert key_value(ACTION, path) == expected


def test_key_value_sorts_keys_and_keeps_unicode() -> None:
    action = make_action({"m": {"z": 1, "a": "é", "m": [1.5, None]}})
    assert key_value(action, "payload.m") == '{"a":"é","m":[1.5,null],"z":1}'


def test_key_value_of_huge_integers_never_raises() -> None:
    action = make_action({"n": {"b": 2**70, "a": 1}})
    assert key_value(action, "payload.n") == '{"a":1,"b":1180591620717411303424}'


def test_key_hash_is_sha256_of_path_value_pairs() -> None:
    expected_text = '[["metadata.k8s.io/cluster","eu-1"],["payload.to","bob@example.com"],["status",""]]'
    expected = hashlib.sha256(expected_text.encode()).hexdigest()
    assert key_hash(ACTION, ["metadata.k8s.io/cluster", "action.payload.to", "status"]) == expected


def test_key_hash_depends_on_order_and_names() -> None:
    action = make_action(metadata={"a": "1", "b": "1"})
    assert key_hash(action, ["metadata.a", "metadata.b"]) != key_hash(action, ["metadata.b", "metadata.a"])
    assert key_hash(action, ["metadata.a"]) == key_hash(action, ["action.metadata.a"])
    assert key_hash(action, []) == hashlib.sha256(b"[]").hexdigest()


def test_key_hash_separates_values_unambiguously() -> None:
    one = make_action(metadata={"a": "x,y", "b": ""})
    two = make_action(metadata={"a": "x", "b": "y"})
    assert key_hash(one, ["metadata.a", "metadata.b"]) != key_hash(two, ["metadata.a", "metadata.b"])
