"""Query booleans (README "Transport") and W3C trace context (README "Trace context"): pure functions."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request

from tidegate.api.params import QueryBool, parse_bool, query_bool
from tidegate.api.trace import trace_context, trace_context_of
from tidegate.errors import ValidationFailed

TRUE = ["true", "1", "yes", "on", "TRUE", "Yes", "oN"]
FALSE = ["false", "0", "no", "off", "FALSE", "No", "OFF"]
NEITHER = ["t", "f", "y", "n", "", " true", "2", "enabled"]


@pytest.mark.parametrize("text", TRUE)
def test_true_words(text: str) -> None:
    assert parse_bool(text) is True
    assert TypeAdapter(QueryBool).validate_python(text) is True


@pytest.mark.parametrize("text", FALSE)
def test_false_words(text: str) -> None:
    assert parse_bool(text) is False
    assert TypeAdapter(QueryBool).validate_python(text) is False


@pytest.mark.parametrize("text", NEITHER)
def test_other_words_are_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_bool(text)
    with pytest.raises(ValidationError):
        TypeAdapter(QueryBool).validate_python(text)


def _request(query: bytes) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "query_string": query, "headers": []})


def test_query_bool_reads_one_parameter() -> None:
    assert query_bool(_request(b""), "dry_run") is False
    assert query_bool(_request(b""), "dry_run", default=True) is True
    assert query_bool(_request(b"dry_run=on"), "dry_run") is True
    with pytest.raises(ValidationFailed) as raised:
        query_bool(_request(b"dry_run=t"), "dry_run")
    assert raised.value.detail[0]["loc"] == ["query", "dry_run"]


VALID = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.mark.parametrize(
    ("traceparent", "tracestate", "expected"),
    [
        (VALID, None, {"traceparent": VALID}),
        (VALID, "vendor=x", {"traceparent": VALID, "tracestate": "vendor=x"}),
        (VALID, "", {"traceparent": VALID}),
        (None, "vendor=x", {}),
        ("00-" + "0" * 32 + "-b7ad6b7169203331-01", "vendor=x", {}),
        ("00-0af7651916cd43dd8448eb211c80319c-" + "0" * 16 + "-01", None, {}),
        (VALID.upper(), None, {}),
        ("01" + VALID[2:], None, {}),
        (VALID + "-extra", None, {}),
        (VALID + "\n", None, {}),
        ("00-0af7651916cd43dd8448eb211c80319-b7ad6b7169203331-01", None, {}),
    ],
)
def test_trace_context(traceparent: str | None, tracestate: str | None, expected: dict[str, str]) -> None:
    assert trace_context(traceparent, tracestate) == expected


def test_trace_context_of_raw_headers_takes_the_first_of_each() -> None:
    other = "00-1af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    headers = [
        (b"host", b"x"),
        (b"tracestate", b"first=1"),
        (b"traceparent", VALID.encode()),
        (b"traceparent", other.encode()),
        (b"tracestate", b"second=2"),
    ]
    assert trace_context_of(headers) == {"traceparent": VALID, "tracestate": "first=1"}
    assert trace_context_of([(b"tracestate", b"a=b")]) == {}
    assert trace_context_of([]) == {}


def test_query_bool_reads_the_last_value_like_query_params() -> None:
    assert query_bool(_request(b"dry_run=true&dry_run=off"), "dry_run") is False
    assert query_bool(_request(b"other=1"), "dry_run", default=True) is True
