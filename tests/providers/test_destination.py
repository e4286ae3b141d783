"""URL display and checks shared by the HTTP providers (features.md §8.2, security.md §7)."""

from __future__ import annotations

import pytest

from tidegate.providers._destination import display_url, is_link_local, prefix_matches, resolve_host


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.example.com/x", "https://hooks.example.com/x"),
        ("https://user:pw@hooks.example.com/x?token=abc#frag", "https://hooks.example.com/x"),
        ("http://127.0.0.1:8080/a/b?c=d", "http://127.0.0.1:8080/a/b"),
        ("https://hooks.example.com:443/x", "https://hooks.example.com/x"),
        ("http://[::1]:9000/v6", "http://[::1]:9000/v6"),
        ("https://hooks.example.com", "https://hooks.example.com/"),
        ("http://host:notaport/x", "<invalid URL>"),
    ],
)
def test_display_url_keeps_scheme_host_and_path_only(url: str, shown: str) -> None:
    assert display_url(url) == shown


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("169.254.169.254", True),
        ("169.254.0.1", True),
        ("fe80::1", True),
        ("fe80::1%eth0", True),
        ("febf::1", True),
        ("::ffff:169.254.169.254", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("169.255.0.1", False),
        ("fec0::1", False),
        ("::1", False),
        ("not-an-ip", False),
    ],
)
def test_is_link_local(address: str, expected: bool) -> None:
    assert is_link_local(address) is expected


@pytest.mark.parametrize(
    ("url", "prefix", "expected"),
    [
        ("https://hooks.example.com/services/a", "https://hooks.example.com/services/", True),
        ("https://hooks.example.com/other", "https://hooks.example.com/services/", False),
        ("https://hooks.example.com/x", "https://hooks.example.com", True),
        ("https://hooks.example.com", "https://hooks.example.com", True),
        ("https://hooks.example.com:8443/x", "https://hooks.example.com", True),
        ("https://hooks.example.com?x=1", "https://hooks.example.com", True),
        ("https://hooks.example.com.evil.example/x", "https://hooks.example.com", False),
        ("https://hooks.example.com@evil.example/x", "https://hooks.example.com", False),
        ("https://hooks.example.com:pw@evil.example/x", "https://hooks.example.com", False),
        ("https://user:pw@hooks.example.com/x", "https://hooks.example.com/", True),
        ("https://hooks.example.com/a@b", "https://hooks.example.com/", True),
        ("http://hooks.example.com/x", "https://", False),
        ("https://anything.example/x", "https://", True),
    ],
)
def test_prefix_matches(url: str, prefix: str, expected: bool) -> None:
    assert prefix_matches(url, prefix) is expected


async def test_resolve_host_gives_unique_addresses() -> None:
    addresses = await resolve_host("127.0.0.1", 80)
    assert list(addresses) == ["127.0.0.1"]
