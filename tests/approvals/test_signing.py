"""Approval link signing (api.md §7, security.md §6): the spec's test vector, rotation, refusals."""

from __future__ import annotations

import pytest

from tidegate.approvals.signing import Link, LinkKeys, SigningKey, approval_urls, signed_message

ZERO = SigningKey("k1", bytes(32))
OTHER = SigningKey("k2", bytes(range(32)))
APPROVAL_ID = "6f1c2e9a-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
VECTOR = "ab5494a39f83d559a85d517a0d1acf9a310fce165ec9e6d4aa13bdf0d483ab45"  # api.md §3.3
EXPIRES = 1770478200


def test_the_spec_test_vector() -> None:
    kid, sig = LinkKeys([ZERO]).sign("payments", "acme", APPROVAL_ID, EXPIRES)
    assert (kid, sig) == ("k1", VECTOR)


def test_the_message_length_prefixes_each_part_in_utf8_bytes() -> None:
    assert signed_message("né", "a", "i", 5) == "3:né\n1:a\n1:i\n5".encode()
    # Shifting a boundary changes the message, so a signature never carries over.
    assert signed_message("a:b", "c", "i", 5) != signed_message("a", "b:c", "i", 5)


def test_the_spec_example_urls() -> None:
    approve, reject = approval_urls(
        "http://127.0.0.1:8080", "payments", "acme", APPROVAL_ID, EXPIRES, LinkKeys([ZERO])
    )
    query = f"sig={VECTOR}&expires_at={EXPIRES}&kid=k1"
    assert approve == f"http://127.0.0.1:8080/v1/approvals/payments/acme/{APPROVAL_ID}/approve?{query}"
    assert reject == f"http://127.0.0.1:8080/v1/approvals/payments/acme/{APPROVAL_ID}/reject?{query}"


def test_path_segments_are_percent_encoded() -> None:
    approve, _ = approval_urls("https://gw.example", "ops:eu", "acme", "id", 1, LinkKeys([ZERO]))
    assert approve.startswith("https://gw.example/v1/approvals/ops%3Aeu/acme/id/approve?")


@pytest.mark.parametrize(
    ("link", "valid"),
    [
        (Link(VECTOR, str(EXPIRES), "k1"), True),
        (Link(VECTOR, str(EXPIRES), None), True),  # without kid every key is tried
        (Link(VECTOR, str(EXPIRES), "k2"), False),  # the kid names a key that did not sign
        (Link(VECTOR, str(EXPIRES), "gone"), False),  # an unknown kid
        (Link(VECTOR, str(EXPIRES + 1), "k1"), False),  # the expiry is signed
        (Link(VECTOR[:-1] + "6", str(EXPIRES), "k1"), False),  # tampered
        (Link(VECTOR.upper(), str(EXPIRES), "k1"), False),  # lowercase hex only
        (Link(VECTOR[:-2], str(EXPIRES), "k1"), False),
        (Link(None, str(EXPIRES), "k1"), False),
        (Link(VECTOR, None, "k1"), False),
        (Link(VECTOR, "17704782OO", "k1"), False),
        (Link(VECTOR, "-1", "k1"), False),
        (Link(VECTOR, "1" * 40, "k1"), False),
    ],
)
def test_verify(link: Link, valid: bool) -> None:
    assert LinkKeys([OTHER, ZERO]).verify("payments", "acme", APPROVAL_ID, link) is valid


def test_verification_is_bound_to_the_scope_and_id() -> None:
    keys, link = LinkKeys([ZERO]), Link(VECTOR, str(EXPIRES), "k1")
    assert not keys.verify("payments", "acme.eu", APPROVAL_ID, link)
    assert not keys.verify("refunds", "acme", APPROVAL_ID, link)
    assert not keys.verify("payments", "acme", APPROVAL_ID.replace("6f", "7f"), link)


def test_rotation_the_first_key_signs_and_a_removed_key_stops_verifying() -> None:
    old = LinkKeys([ZERO])
    kid, sig = old.sign("payments", "acme", APPROVAL_ID, EXPIRES)
    rotated = LinkKeys([OTHER, ZERO])
    assert rotated.current.kid == "k2"
    assert rotated.sign("payments", "acme", APPROVAL_ID, EXPIRES)[0] == "k2"
    assert rotated.verify("payments", "acme", APPROVAL_ID, Link(sig, str(EXPIRES), kid))
    retired = LinkKeys([OTHER])
    assert not retired.verify("payments", "acme", APPROVAL_ID, Link(sig, str(EXPIRES), kid))
    assert not retired.verify("payments", "acme", APPROVAL_ID, Link(sig, str(EXPIRES), None))


def test_keys_never_print_their_secret() -> None:
    assert "\\x00" not in repr(ZERO) and "secret" not in repr(ZERO)
    with pytest.raises(ValueError):
        LinkKeys([])
