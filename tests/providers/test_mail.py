"""Payload to message for the email provider (features.md §8.3); pure."""

from __future__ import annotations

import pytest

from tidegate.model.json import JsonValue
from tidegate.providers._mail import DEFAULT_SUBJECT, Mail, build_message, parse_mail, sender_domain
from tidegate.providers.base import ProviderError


@pytest.mark.parametrize(
    ("payload", "to"),
    [
        ({"to": "a@x.test"}, ("a@x.test",)),
        ({"to": ["a@x.test", " b@x.test "]}, ("a@x.test", "b@x.test")),
        ({"to": None}, ("default@x.test",)),
        ({}, ("default@x.test",)),
        ({"to": [], "cc": "c@x.test"}, ()),
    ],
)
def test_to_forms(payload: JsonValue, to: tuple[str, ...]) -> None:
    assert parse_mail(payload, ["default@x.test"]).to == to


def test_recipients_are_unique_in_to_cc_bcc_order() -> None:
    mail = parse_mail({"to": ["a@x.test", "b@x.test"], "cc": "b@x.test", "bcc": ["c@x.test", "a@x.test"]}, [])
    assert mail.recipients == ("a@x.test", "b@x.test", "c@x.test")


def test_text_wins_over_body_and_subject_defaults() -> None:
    mail = parse_mail({"to": "a@x.test", "text": "t", "body": "b"}, [])
    assert (mail.text, mail.subject) == ("t", DEFAULT_SUBJECT)
    assert parse_mail({"to": "a@x.test", "body": "b"}, []).text == "b"


def test_no_recipient_is_execution_failed() -> None:
    with pytest.raises(ProviderError) as caught:
        parse_mail({"to": "  ", "cc": []}, [])
    assert (caught.value.code, caught.value.retryable) == ("execution_failed", False)


@pytest.mark.parametrize(
    ("sender", "domain"),
    [
        ("Tidegate <noreply@example.com>", "example.com"),
        ("a@b.test", "b.test"),
        ("nobody", "tidegate.invalid"),
    ],
)
def test_sender_domain(sender: str, domain: str) -> None:
    assert sender_domain(sender) == domain


def test_build_message_without_text_or_html_is_an_empty_plain_body() -> None:
    mail = Mail(("a@x.test",), (), ("hidden@x.test",), "s", None, None, None)
    message = build_message(mail, "a@b.test", "<id@b.test>")
    assert message.get_content_type() == "text/plain"
    assert message["Bcc"] is None and message["Cc"] is None and message["Reply-To"] is None
    assert message["Message-ID"] == "<id@b.test>"
