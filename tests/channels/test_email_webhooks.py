"""Email relay: timestamped HMAC, References threading, signed outbound request."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from channels import email
from channels.model import WebhookError

SECRET = "email-signing-secret"
NOW = 1_760_000_000.0
DOC = {
    "from": "Grace Hopper <Grace@Example.org>",
    "to": "support@acme.test",
    "subject": "Re: Invoice 42",
    "text": "Still wrong, see attached.",
    "message_id": "CAF=abc123@mail.example.org",
    "in_reply_to": "<reply-2@acme.test>",
    "references": "<orig-1@example.org> <reply-2@acme.test>",
}


def signed(doc: dict[str, object], ts: int, secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(doc).encode()
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {"X-Switchboard-Signature": f"sha256={mac}", "X-Switchboard-Timestamp": str(ts)}


def test_signed_email_is_parsed_with_threading_headers() -> None:
    body, headers = signed(DOC, int(NOW) - 10)
    [msg] = email.read_webhook(body, headers, SECRET, now=NOW).messages
    assert (msg.channel, msg.identity_type, msg.identity_value) == ("email", "email", "grace@example.org")
    assert msg.name == "Grace Hopper"
    assert msg.subject == "Re: Invoice 42"
    assert msg.provider_message_id == "<CAF=abc123@mail.example.org>"
    assert msg.in_reply_to == "<reply-2@acme.test>"
    assert msg.references == ["<orig-1@example.org>", "<reply-2@acme.test>"]
    assert email.thread_keys(msg) == ["<reply-2@acme.test>", "<orig-1@example.org>"]


def test_references_may_be_a_list_and_from_name_wins() -> None:
    doc = {**DOC, "references": ["orig-1@example.org", "<reply-2@acme.test>"], "from_name": "G. Hopper"}
    msg = email.parse_inbound(doc, NOW)
    assert msg.references == ["<orig-1@example.org>", "<reply-2@acme.test>"]
    assert msg.name == "G. Hopper"


def test_tampered_body_is_refused() -> None:
    body, headers = signed(DOC, int(NOW))
    with pytest.raises(WebhookError) as err:
        email.read_webhook(body.replace(b"wrong", b"right"), headers, SECRET, now=NOW)
    assert (err.value.status, err.value.code) == (403, "invalid_signature")


def test_signature_bound_to_timestamp() -> None:
    body, headers = signed(DOC, int(NOW))
    headers["X-Switchboard-Timestamp"] = str(int(NOW) - 1)
    with pytest.raises(WebhookError) as err:
        email.read_webhook(body, headers, SECRET, now=NOW)
    assert err.value.code == "invalid_signature"


def test_timestamp_older_than_five_minutes_is_refused() -> None:
    body, headers = signed(DOC, int(NOW) - 301)
    with pytest.raises(WebhookError) as err:
        email.read_webhook(body, headers, SECRET, now=NOW)
    assert (err.value.status, err.value.code) == (403, "stale_timestamp")
    body, headers = signed(DOC, int(NOW) - 299)
    assert email.read_webhook(body, headers, SECRET, now=NOW).messages


def test_missing_headers_are_refused() -> None:
    body, _ = signed(DOC, int(NOW))
    with pytest.raises(WebhookError):
        email.read_webhook(body, {}, SECRET, now=NOW)


def test_sender_without_address_is_unprocessable() -> None:
    with pytest.raises(WebhookError) as err:
        email.parse_inbound({**DOC, "from": "nobody"}, NOW)
    assert err.value.status == 422


def test_reply_subject_does_not_stack() -> None:
    assert email.reply_subject("Invoice 42") == "Re: Invoice 42"
    assert email.reply_subject("RE: Invoice 42") == "RE: Invoice 42"


def test_outbound_request_is_signed_like_inbound() -> None:
    req = email.build_send(
        "http://relay/send",
        SECRET,
        "support@acme.test",
        "grace@example.org",
        "Invoice 42",
        "Fixed, sorry!",
        "<out-3@acme.test>",
        "<CAF=abc123@mail.example.org>",
        ["<orig-1@example.org>", "<CAF=abc123@mail.example.org>"],
        timestamp=int(NOW),
    )
    assert req.data is not None
    sent = json.loads(req.data)
    assert sent["subject"] == "Re: Invoice 42"
    assert sent["in_reply_to"] == "<CAF=abc123@mail.example.org>"
    assert sent["references"][-1] == "<CAF=abc123@mail.example.org>"
    email.verify_signature(
        req.data, req.headers["X-Switchboard-Signature"], req.headers["X-Switchboard-Timestamp"], SECRET, NOW
    )
