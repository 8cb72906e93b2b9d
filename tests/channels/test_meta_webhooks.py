"""WhatsApp Cloud API and Messenger: X-Hub-Signature-256, GET handshake, payloads, Send API requests."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from channels import meta
from channels.model import WebhookError

SECRET = "meta-app-secret"

WHATSAPP_MESSAGE = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "102290129340398",
            "changes": [
                {
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {
                            "display_phone_number": "15550783881",
                            "phone_number_id": "106540352242922",
                        },
                        "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
                        "messages": [
                            {
                                "from": "16505551234",
                                "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
                                "timestamp": "1749416383",
                                "type": "text",
                                "text": {"body": "Does it come in another color?"},
                            }
                        ],
                    },
                    "field": "messages",
                }
            ],
        }
    ],
}

WHATSAPP_STATUSES = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "102290129340398",
            "changes": [
                {
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {
                            "display_phone_number": "15550783881",
                            "phone_number_id": "106540352242922",
                        },
                        "statuses": [
                            {
                                "id": "wamid.OUT1",
                                "status": "delivered",
                                "timestamp": "1750263773",
                                "recipient_id": "16505551234",
                                "conversation": {"id": "abc", "origin": {"type": "service"}},
                                "pricing": {"billable": True, "pricing_model": "PMP", "category": "service"},
                            },
                            {
                                "id": "wamid.OUT2",
                                "status": "read",
                                "timestamp": "1750263790",
                                "recipient_id": "16505551234",
                            },
                            {
                                "id": "wamid.OUT3",
                                "status": "failed",
                                "timestamp": "1750263800",
                                "recipient_id": "16505551234",
                                "errors": [
                                    {
                                        "code": 131047,
                                        "title": "Re-engagement message",
                                        "message": "Re-engagement message",
                                        "error_data": {"details": "More than 24 hours have passed"},
                                    }
                                ],
                            },
                        ],
                    },
                    "field": "messages",
                }
            ],
        }
    ],
}

MESSENGER = {
    "object": "page",
    "entry": [
        {
            "id": "PAGE_ID",
            "time": 1458692752478,
            "messaging": [
                {
                    "sender": {"id": "6783456789012345"},
                    "recipient": {"id": "PAGE_ID"},
                    "timestamp": 1458692752478,
                    "message": {
                        "mid": "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8f",
                        "text": "hello",
                    },
                },
                {
                    "sender": {"id": "PAGE_ID"},
                    "recipient": {"id": "6783456789012345"},
                    "timestamp": 1458692752500,
                    "message": {"is_echo": True, "app_id": 1517776481860111, "mid": "m_echo", "text": "hi"},
                },
                {
                    "sender": {"id": "6783456789012345"},
                    "recipient": {"id": "PAGE_ID"},
                    "delivery": {"mids": ["m_OUT1"], "watermark": 1458668856253},
                },
                {
                    "sender": {"id": "6783456789012345"},
                    "recipient": {"id": "PAGE_ID"},
                    "timestamp": 1458668856463,
                    "read": {"watermark": 1458668856253},
                },
            ],
        }
    ],
}


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_signature_over_raw_bytes_verifies_and_tampering_fails() -> None:
    body = json.dumps(WHATSAPP_MESSAGE).encode()
    header = sign(body)
    assert meta.verify_signature(body, header, SECRET)
    assert not meta.verify_signature(body.replace(b"color", b"colour"), header, SECRET)
    assert not meta.verify_signature(body, header, "other-secret")
    assert not meta.verify_signature(body, header.removeprefix("sha256="), SECRET)
    assert not meta.verify_signature(body, "sha1=" + header.removeprefix("sha256="), SECRET)
    assert not meta.verify_signature(body, None, SECRET)


def test_signature_is_over_exact_bytes_not_reserialised_json() -> None:
    compact = json.dumps(WHATSAPP_MESSAGE, separators=(",", ":")).encode()
    spaced = json.dumps(WHATSAPP_MESSAGE, indent=2).encode()
    assert not meta.verify_signature(spaced, sign(compact), SECRET)


def test_handshake_echoes_challenge() -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": "vt-1", "hub.challenge": "1158201444"}
    assert meta.verify_handshake(query, "vt-1") == "1158201444"


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "vt-1", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
    ],
)
def test_handshake_refused_with_403(query: dict[str, str]) -> None:
    with pytest.raises(WebhookError) as err:
        meta.verify_handshake(query, "vt-1")
    assert err.value.status == 403


def test_whatsapp_text_message_is_parsed() -> None:
    body = json.dumps(WHATSAPP_MESSAGE).encode()
    batch = meta.read_whatsapp_webhook(body, {"x-hub-signature-256": sign(body)}, SECRET)
    [msg] = batch.messages
    assert msg.channel == "whatsapp"
    assert msg.identity_type == "whatsapp"
    assert msg.identity_value == "+16505551234"
    assert msg.name == "Sheena Nelson"
    assert msg.text == "Does it come in another color?"
    assert msg.provider_message_id.startswith("wamid.")
    assert msg.received_at == 1749416383.0
    assert batch.statuses == []


def test_whatsapp_statuses_are_parsed() -> None:
    messages, statuses = meta.parse_whatsapp(WHATSAPP_STATUSES)
    assert messages == []
    assert [(s.provider_message_id, s.status) for s in statuses] == [
        ("wamid.OUT1", "delivered"),
        ("wamid.OUT2", "read"),
        ("wamid.OUT3", "failed"),
    ]
    assert statuses[2].error is not None and "131047" in statuses[2].error


def test_whatsapp_tampered_body_is_refused() -> None:
    body = json.dumps(WHATSAPP_MESSAGE).encode()
    with pytest.raises(WebhookError) as err:
        meta.read_whatsapp_webhook(body + b" ", {"X-Hub-Signature-256": sign(body)}, SECRET)
    assert (err.value.status, err.value.code) == (403, "invalid_signature")


def test_whatsapp_route_refuses_a_messenger_payload() -> None:
    body = json.dumps(MESSENGER).encode()
    with pytest.raises(WebhookError) as err:
        meta.read_whatsapp_webhook(body, {"X-Hub-Signature-256": sign(body)}, SECRET)
    assert err.value.status == 400


def test_messenger_message_delivery_and_read() -> None:
    body = json.dumps(MESSENGER).encode()
    batch = meta.read_messenger_webhook(body, {"X-Hub-Signature-256": sign(body)}, SECRET)
    [msg] = batch.messages
    assert (msg.channel, msg.identity_type, msg.identity_value) == (
        "messenger",
        "messenger",
        "6783456789012345",
    )
    assert msg.text == "hello"
    assert msg.provider_message_id.startswith("m_AG5")
    assert msg.received_at == pytest.approx(1458692752.478)
    delivered, read = batch.statuses
    assert (delivered.provider_message_id, delivered.status) == ("m_OUT1", "delivered")
    assert read.provider_message_id is None
    assert (read.status, read.recipient_id) == ("read", "6783456789012345")
    assert read.watermark == pytest.approx(1458668856.253)


def test_whatsapp_send_request() -> None:
    req = meta.build_whatsapp_send(
        "tok", "106540352242922", "+16505551234", "Yes, in blue", "http://fake", "v21.0"
    )
    assert req.url == "http://fake/v21.0/106540352242922/messages"
    assert req.headers["Authorization"] == "Bearer tok"
    assert req.json is not None
    assert req.json["messaging_product"] == "whatsapp"
    assert (req.json["to"], req.json["type"], req.json["text"]) == (
        "16505551234",
        "text",
        {"body": "Yes, in blue"},
    )
    response = {
        "messaging_product": "whatsapp",
        "contacts": [{"wa_id": "16505551234"}],
        "messages": [{"id": "wamid.X"}],
    }
    assert meta.whatsapp_sent_id(response) == "wamid.X"


def test_messenger_send_request() -> None:
    req = meta.build_messenger_send("tok", "6783456789012345", "Hello!", "http://fake", "v21.0")
    assert req.url == "http://fake/v21.0/me/messages"
    assert req.json == {
        "recipient": {"id": "6783456789012345"},
        "messaging_type": "RESPONSE",
        "message": {"text": "Hello!"},
    }
    assert meta.messenger_sent_id({"recipient_id": "6783456789012345", "message_id": "m_X"}) == "m_X"
