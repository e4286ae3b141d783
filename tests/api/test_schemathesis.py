"""Schemathesis over ``/openapi.json`` of a running server (api.md §14): no 5xx, no undocumented status,
and every response matches its documented content type, headers and schema. CI-required: never skipped.

Streaming endpoints (SSE) are excluded: a generated request would hold the connection open."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.case import Case
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers.server import serving
from tidegate.api.app import create_app
from tidegate.config import Settings

from .conftest import make_settings

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving(make_settings(tmp_path_factory.mktemp("schemathesis"))) as url:
        yield url


# The document is built at collection time from the same code the server runs (schemathesis' lazy
# ``from_fixture`` loader does not work with pytest 9); ``test_served_document_is_the_tested_one`` proves
# the running server serves exactly this document.
DOCUMENT = create_app(Settings()).openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT).exclude(path_regex=r"(/stream$|/events$)")


def test_document_passes_the_openapi_31_validator() -> None:
    assert DOCUMENT["openapi"] == "3.1.0"
    schemathesis.openapi.from_dict(DOCUMENT).validate()


def test_served_document_is_the_tested_one(server_url: str) -> None:
    assert httpx.get(f"{server_url}/openapi.json").json() == DOCUMENT


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_api_conforms_to_its_document(case: Case, server_url: str) -> None:
    case.call_and_validate(base_url=server_url, checks=CHECKS)
