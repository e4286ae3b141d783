"""HTTPS webhooks: the connection goes to the checked address, and TLS verifies the URL's host name."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from tidegate.providers import ProviderError, WebhookClient, WebhookProvider, new_webhook_client

from ._support import LocalHttpServer, make_action

HOST = "hooks.example.test"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={HOST}",
         "-addext", f"subjectAltName=DNS:{HOST}"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
async def tls_server(certificate: tuple[Path, Path]) -> AsyncIterator[LocalHttpServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(certificate[0]), str(certificate[1]))
    server = LocalHttpServer()
    await server.start(tls=context)
    try:
        yield server
    finally:
        await server.stop()


async def to_loopback(host: str, port: int) -> Sequence[str]:
    return ["127.0.0.1"]


@pytest.fixture
async def trusting_client(certificate: tuple[Path, Path]) -> AsyncIterator[WebhookClient]:
    trust = ssl.create_default_context(cafile=str(certificate[0]))
    async with new_webhook_client(verify=trust, resolve=to_loopback) as client:
        yield WebhookClient(client)


async def test_https_to_a_checked_address_verifies_the_host_name(
    tls_server: LocalHttpServer, trusting_client: WebhookClient
) -> None:
    url = tls_server.url("/x?sig=1", host=HOST, scheme="https")
    provider = WebhookProvider("hook", trusting_client, url=url)
    response = await provider.execute(make_action(), 1)
    assert response.status == "success"
    (seen,) = tls_server.requests
    assert seen.headers["host"] == f"{HOST}:{tls_server.port}"
    assert seen.target == "/x?sig=1"


async def test_certificate_for_another_name_is_refused(
    tls_server: LocalHttpServer, trusting_client: WebhookClient
) -> None:
    url = tls_server.url("/x", host="other.example.test", scheme="https")
    provider = WebhookProvider("hook", trusting_client, url=url)
    with pytest.raises(ProviderError) as caught:
        await provider.execute(make_action(), 1)
    assert (caught.value.code, caught.value.retryable) == ("connection", True)
    assert caught.value.message == "connection error: TLS certificate verification failed"
    assert tls_server.requests == []


async def test_unverified_client_accepts_the_certificate(tls_server: LocalHttpServer) -> None:
    async with new_webhook_client(verify=False, resolve=to_loopback) as client:
        url = tls_server.url("/x", host="other.example.test", scheme="https")
        provider = WebhookProvider("hook", client, url=url)
        response = await provider.execute(make_action(), 1)
    assert response.status == "success"


async def test_a_connection_verified_for_one_name_is_not_reused_for_another(
    tls_server: LocalHttpServer, trusting_client: WebhookClient
) -> None:
    good = WebhookProvider("a", trusting_client, url=tls_server.url("/a", HOST, "https"))
    other_url = tls_server.url("/b", "other.example.test", "https")
    other = WebhookProvider("b", trusting_client, url=other_url)
    assert (await good.execute(make_action(), 1)).status == "success"
    with pytest.raises(ProviderError) as caught:
        await other.execute(make_action(), 1)
    assert caught.value.message == "connection error: TLS certificate verification failed"
    assert [r.target for r in tls_server.requests] == ["/a"]
