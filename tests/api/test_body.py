"""Body checks (``api/body.py``) and the 422 detail list (``api/validation.py``), without a server."""

from __future__ import annotations

import pytest
from pydantic import BaseModel
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message

from tidegate.api.body import (
    MAX_DEPTH,
    check_depth,
    check_media_type,
    parse_json,
    read_json,
    receive_body,
    validate,
)
from tidegate.api.validation import describe, issues
from tidegate.errors import InvalidJson, UnsupportedMediaType, ValidationFailed
from tidegate.model.json import JsonValue


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON", " application/json "],
)
def test_json_media_types(content_type: str) -> None:
    check_media_type(content_type)


@pytest.mark.parametrize(
    "content_type", [None, "", "text/json", "application/jsonx", "application/problem+json"]
)
def test_other_media_types_are_415(content_type: str | None) -> None:
    with pytest.raises(UnsupportedMediaType):
        check_media_type(content_type)


@pytest.mark.parametrize("raw", [b"", b"{", b"\xff", b"NaN", b"[Infinity]", b"{'a': 1}", b"\xef\xbb\xbf{}"])
def test_invalid_json(raw: bytes) -> None:
    with pytest.raises(InvalidJson):
        parse_json(raw)


def test_valid_json_keeps_utf8() -> None:
    assert parse_json('{"a":"é","b":[1,2.5,null,true]}'.encode()) == {"a": "é", "b": [1, 2.5, None, True]}


def _nested(depth: int) -> JsonValue:
    value: JsonValue = 0
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


def test_depth_limit() -> None:
    check_depth(_nested(MAX_DEPTH))
    check_depth("scalar")
    with pytest.raises(ValidationFailed) as raised:
        check_depth(_nested(MAX_DEPTH + 1))
    assert raised.value.detail == [
        {"loc": ["body"], "msg": "JSON is nested deeper than 64 levels", "type": "too_deep"}
    ]


def test_parser_recursion_limit_is_a_depth_error() -> None:
    with pytest.raises(ValidationFailed):
        parse_json(b"[" * 5000 + b"]" * 5000)


class _Model(BaseModel):
    name: str
    count: int


def test_validate_returns_the_model_or_the_detail_list() -> None:
    assert validate(_Model, {"name": "a", "count": 1}) == _Model(name="a", count=1)
    with pytest.raises(ValidationFailed) as raised:
        validate(_Model, {"count": "x", "extra": "secret-input"})
    assert raised.value.detail == [
        {"loc": ["body", "name"], "msg": "Field required", "type": "missing"},
        {
            "loc": ["body", "count"],
            "msg": "Input should be a valid integer, unable to parse string as an integer",
            "type": "int_parsing",
        },
    ]
    assert raised.value.message == "body.name: Field required (and 1 more)"
    assert "secret-input" not in str(raised.value.detail)


def test_issues_keep_only_loc_msg_type() -> None:
    raw = [
        {"loc": ("query", "limit"), "msg": "too big", "type": "less_than_equal", "input": "9999", "ctx": {}}
    ]
    assert issues(raw) == [{"loc": ["query", "limit"], "msg": "too big", "type": "less_than_equal"}]
    assert issues(raw, prefix=("x",))[0]["loc"] == ["x", "query", "limit"]


def test_describe() -> None:
    assert describe([]) == "validation failed"
    assert (
        describe([{"loc": ["namespace"], "msg": "Field required", "type": "missing"}])
        == "namespace: Field required"
    )
    assert describe([{"loc": [], "msg": "Value error, nope", "type": "value_error"}]) == "Value error, nope"


def _receiving(*messages: Message) -> Request:
    queue = list(messages)

    async def receive() -> Message:
        return queue.pop(0)

    return Request({"type": "http", "method": "POST", "path": "/", "headers": []}, receive)


async def test_receive_body_joins_the_chunks() -> None:
    request = _receiving(
        {"type": "http.request", "body": b'{"a":', "more_body": True},
        {"type": "http.request", "body": b"", "more_body": True},
        {"type": "http.request", "body": b"1}", "more_body": False},
    )
    assert await receive_body(request) == b'{"a":1}'


async def test_receive_body_single_message_and_empty_body() -> None:
    assert await receive_body(_receiving({"type": "http.request", "body": b"{}"})) == b"{}"
    assert await receive_body(_receiving({"type": "http.request"})) == b""


async def test_receive_body_raises_when_the_client_leaves() -> None:
    request = _receiving(
        {"type": "http.request", "body": b"{", "more_body": True}, {"type": "http.disconnect"}
    )
    with pytest.raises(ClientDisconnect):
        await receive_body(request)


async def test_read_json_checks_the_first_content_type() -> None:
    async def receive() -> Message:
        return {"type": "http.request", "body": b"{}"}

    def request(*content_types: bytes) -> Request:
        headers = [(b"content-type", value) for value in content_types]
        return Request({"type": "http", "method": "POST", "path": "/", "headers": headers}, receive)

    assert await read_json(request(b"application/json", b"text/plain")) == {}
    with pytest.raises(UnsupportedMediaType):
        await read_json(request(b"text/plain", b"application/json"))
    with pytest.raises(UnsupportedMediaType):
        await read_json(request())
