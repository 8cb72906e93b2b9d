"""Twilio: X-Twilio-Signature, inbound SMS and status callbacks, Messages API request."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlencode

import pytest

from channels import twilio
from channels.model import WebhookError

TOKEN = "tw-auth-token-0123"
URL = "https://switchboard.example.com/webhooks/sms/acme"
INBOUND = {
    "ToCountry": "US",
    "SmsMessageSid": "SM1f0e8ae6ade43cb3c0ce4525424e404f",
    "NumMedia": "0",
    "SmsSid": "SM1f0e8ae6ade43cb3c0ce4525424e404f",
    "SmsStatus": "received",
    "Body": "Hi, my order #123 never arrived",
    "To": "+14155550100",
    "NumSegments": "1",
    "MessageSid": "SM1f0e8ae6ade43cb3c0ce4525424e404f",
    "AccountSid": "AC00000000000000000000000000000000",
    "From": "+1 (415) 555-0199",
    "ApiVersion": "2010-04-01",
}


def twilio_sign(url: str, params: dict[str, str], token: str) -> str:
    """Twilio's documented algorithm, written out independently of channels.twilio."""
    data = url + "".join(k + params[k] for k in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def test_documented_vector_verifies() -> None:
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio.verify_signature(url, params, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", "12345")
    assert not twilio.verify_signature(
        url, {**params, "Digits": "9999"}, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", "12345"
    )


def test_signed_inbound_sms_is_parsed() -> None:
    body = urlencode(INBOUND).encode()
    headers = {"x-twilio-signature": twilio_sign(URL, INBOUND, TOKEN)}
    batch = twilio.read_webhook(body, headers, URL, TOKEN, received_at=1000.0)
    assert batch.statuses == []
    [msg] = batch.messages
    assert msg.channel == "sms"
    assert msg.identity_type == "phone"
    assert msg.identity_value == "+14155550199"
    assert msg.text == "Hi, my order #123 never arrived"
    assert msg.provider_message_id == "SM1f0e8ae6ade43cb3c0ce4525424e404f"
    assert msg.received_at == 1000.0


@pytest.mark.parametrize(
    "tamper",
    [
        lambda f: {**f, "Body": "send me a refund"},
        lambda f: {**f, "Extra": "1"},
        lambda f: {k: v for k, v in f.items() if k != "NumMedia"},
    ],
    ids=["changed-value", "added-param", "dropped-param"],
)
def test_tampered_form_is_refused(tamper) -> None:  # type: ignore[no-untyped-def]
    signature = twilio_sign(URL, INBOUND, TOKEN)
    body = urlencode(tamper(INBOUND)).encode()
    with pytest.raises(WebhookError) as err:
        twilio.read_webhook(body, {"X-Twilio-Signature": signature}, URL, TOKEN, received_at=0)
    assert (err.value.status, err.value.code) == (403, "invalid_signature")


def test_signature_for_another_url_or_token_is_refused() -> None:
    signature = twilio_sign(URL, INBOUND, TOKEN)
    assert not twilio.verify_signature(URL + "?x=1", INBOUND, signature, TOKEN)
    assert not twilio.verify_signature(URL, INBOUND, signature, "other-token")
    assert not twilio.verify_signature(URL, INBOUND, None, TOKEN)
    assert not twilio.verify_signature(URL, INBOUND, signature, "")


def test_signature_made_with_explicit_default_port_verifies() -> None:
    signed_url = "https://switchboard.example.com:443/webhooks/sms/acme"
    assert twilio.verify_signature(URL, INBOUND, twilio_sign(signed_url, INBOUND, TOKEN), TOKEN)


def test_whatsapp_via_twilio_keeps_profile_name() -> None:
    form = {**INBOUND, "From": "whatsapp:+447400123456", "ProfileName": "Ada"}
    msg = twilio.parse_inbound(form, received_at=0)
    assert (msg.channel, msg.identity_type, msg.identity_value, msg.name) == (
        "whatsapp",
        "whatsapp",
        "+447400123456",
        "Ada",
    )


def test_junk_sender_number_is_unprocessable() -> None:
    with pytest.raises(WebhookError) as err:
        twilio.parse_inbound({**INBOUND, "From": "not-a-number"}, received_at=0)
    assert (err.value.status, err.value.code) == (422, "invalid_phone_number")


@pytest.mark.parametrize(
    ("raw", "mapped"),
    [
        ("queued", "sent"),
        ("sent", "sent"),
        ("delivered", "delivered"),
        ("read", "read"),
        ("undelivered", "failed"),
        ("failed", "failed"),
    ],
)
def test_status_callback_maps_message_status(raw: str, mapped: str) -> None:
    form = {
        "MessageSid": "SM99",
        "MessageStatus": raw,
        "SmsStatus": raw,
        "AccountSid": "AC1",
        "To": "+14155550199",
        "From": "+14155550100",
    }
    if raw in {"undelivered", "failed"}:
        form["ErrorCode"] = "30003"
    body = urlencode(form).encode()
    batch = twilio.read_webhook(body, {"X-Twilio-Signature": twilio_sign(URL, form, TOKEN)}, URL, TOKEN, 0)
    [status] = batch.statuses
    assert status.provider_message_id == "SM99"
    assert status.status == mapped
    assert (status.error is not None) == (mapped == "failed")
    assert batch.messages == []


def test_messages_api_request() -> None:
    req = twilio.build_send(
        "AC123", "secret", "+14155550100", "+14155550199", "Hello", base_url="http://fake:1/"
    )
    assert req.url == "http://fake:1/2010-04-01/Accounts/AC123/Messages.json"
    assert req.form == {"To": "+14155550199", "From": "+14155550100", "Body": "Hello"}
    assert req.headers["Authorization"] == "Basic " + base64.b64encode(b"AC123:secret").decode()
    assert twilio.sent_id({"sid": "SMabc", "status": "queued"}) == "SMabc"


def test_webhook_error_renders_the_api_envelope() -> None:
    err = WebhookError(403, "invalid_signature", "nope")
    assert err.body() == {"error": {"code": "invalid_signature", "message": "nope"}}
