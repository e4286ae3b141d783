"""Payload redaction, features.md §11."""

from __future__ import annotations

import copy

import orjson
import pytest

from tidegate.audit.redact import Redactor, redact_payload
from tidegate.model.json import JsonValue

PLACEHOLDER = "[REDACTED]"


def test_the_spec_example_verbatim() -> None:
    payload = orjson.loads(
        b'{"password":"x","users":[{"Password":"y"}],"card":{"number":"4111","exp":"01/30"}}'
    )
    expected = orjson.loads(
        b'{"password":"[REDACTED]","users":[{"Password":"[REDACTED]"}],'
        b'"card":{"number":"[REDACTED]","exp":"01/30"}}'
    )
    assert redact_payload(payload, ["password", "card.number"], PLACEHOLDER) == expected


@pytest.mark.parametrize(
    ("fields", "payload", "expected"),
    [
        # names match at any depth, in arrays, whatever the value
        (["secret"], {"a": {"b": [{"SECRET": {"x": 1}}]}}, {"a": {"b": [{"SECRET": PLACEHOLDER}]}}),
        (["Token"], {"token": [1, 2], "TOKEN": None}, {"token": PLACEHOLDER, "TOKEN": PLACEHOLDER}),
        (["token"], [[{"token": "t"}], "token"], [[{"token": PLACEHOLDER}], "token"]),
        # a dotted entry is a path from the root only
        (["card.number"], {"x": {"card": {"number": 1}}}, {"x": {"card": {"number": 1}}}),
        (
            ["card.number"],
            {"card": {"number": 1, "cvv": 2}, "number": 3},
            {"card": {"number": PLACEHOLDER, "cvv": 2}, "number": 3},
        ),
        (["Card.NUMBER"], {"card": {"Number": 1}}, {"card": {"Number": PLACEHOLDER}}),
        (["card"], {"card": {"number": 1}}, {"card": PLACEHOLDER}),
        # digits index arrays
        (
            ["users.1.email"],
            {"users": [{"email": "a"}, {"email": "b"}]},
            {"users": [{"email": "a"}, {"email": PLACEHOLDER}]},
        ),
        (["items.0"], {"items": ["a", "b"]}, {"items": [PLACEHOLDER, "b"]}),
        (["items.5"], {"items": ["a"]}, {"items": ["a"]}),
        (["a.b.c"], {"a": {"b": "scalar"}}, {"a": {"b": "scalar"}}),
        (["a.b"], {"a": [{"b": 1}]}, {"a": [{"b": 1}]}),
        # paths and names together
        (
            ["pw", "a.b"],
            {"a": {"b": 1, "pw": 2}, "pw": 3},
            {"a": {"b": PLACEHOLDER, "pw": PLACEHOLDER}, "pw": PLACEHOLDER},
        ),
        # scalars and non-matching payloads come back as they are
        (["x"], "text", "text"),
        (["x"], None, None),
        (["x"], 12.5, 12.5),
        (["x"], {"y": {"z": [1, True, None]}}, {"y": {"z": [1, True, None]}}),
    ],
)
def test_redaction_table(fields: list[str], payload: JsonValue, expected: JsonValue) -> None:
    assert Redactor(fields, PLACEHOLDER)(payload) == expected


def test_the_placeholder_is_configurable() -> None:
    assert redact_payload({"k": 1}, ["k"], "***") == {"k": "***"}


def test_the_input_is_never_changed_and_the_result_is_a_new_value() -> None:
    payload: JsonValue = {"password": "x", "nested": {"list": [{"password": "y"}, {"keep": 1}]}}
    snapshot = copy.deepcopy(payload)
    redacted = Redactor(["password"], PLACEHOLDER)(payload)
    assert payload == snapshot
    assert isinstance(redacted, dict) and isinstance(payload, dict)
    assert redacted is not payload
    assert redacted["nested"] is not payload["nested"]
    redacted["nested"]["list"][1]["keep"] = 2  # type: ignore[call-overload,index]
    assert payload == snapshot


def test_no_fields_means_no_work() -> None:
    payload: JsonValue = {"password": "x"}
    redactor = Redactor([], PLACEHOLDER)
    assert not redactor.is_active
    assert redactor(payload) is payload
    assert Redactor(["a.b"], PLACEHOLDER).is_active
    assert Redactor(["a"], PLACEHOLDER).is_active
