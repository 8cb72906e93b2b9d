"""License documents: the pydantic model, and Ed25519 signing and verification.

A document is ``{"license": {...}, "signature": "<base64>"}``; the signature covers the canonical JSON
of the license object exactly as it appears in the document, so verification never depends on how
this code would re-serialise the fields.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

LicenseModel = Literal["concurrent", "named"]
PeriodKind = Literal["month", "week", "day"]

ERROR_CODES = (
    "license_malformed",
    "license_signature_invalid",
    "license_wrong_org",
    "license_expired",
    "license_not_yet_valid",
)


class LicenseError(Exception):
    """A license document that must be refused; ``code`` is one of ERROR_CODES."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class License(BaseModel):
    # Unknown fields are refused: an older server must not silently ignore a restriction it can't read.
    model_config = ConfigDict(extra="forbid", frozen=True)

    license_id: str = Field(min_length=1, max_length=200)
    org_id: str = Field(min_length=1, max_length=200)
    model: LicenseModel
    seats: int = Field(gt=0)
    period: PeriodKind = "month"
    timezone: str = "UTC"
    valid_from: AwareDatetime
    valid_until: AwareDatetime

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _ordered_dates(self) -> License:
        if self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self

    def valid_at(self, now: float) -> bool:
        return self.valid_from.timestamp() <= now < self.valid_until.timestamp()


def canonical_json(obj: Any) -> bytes:
    """The exact bytes a signature covers."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def generate_keypair() -> tuple[bytes, bytes]:
    """A new vendor key pair as (PKCS#8 private PEM, SubjectPublicKeyInfo public PEM)."""
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem


def _private_key(pem: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the vendor private key must be an Ed25519 key")
    return key


def _public_key(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the vendor public key must be an Ed25519 key")
    return key


def sign_license(lic: License, private_pem: bytes) -> str:
    """The signed document text for ``lic``."""
    obj = lic.model_dump(mode="json")
    signature = _private_key(private_pem).sign(canonical_json(obj))
    return json.dumps({"license": obj, "signature": base64.b64encode(signature).decode()}, indent=2) + "\n"


def _split_document(text: str) -> tuple[dict[str, Any], bytes]:
    try:
        doc = json.loads(text)
    except (ValueError, TypeError, RecursionError) as exc:  # RecursionError: nested deeper than the stack
        raise LicenseError("license_malformed", f"not JSON: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("license"), dict):
        raise LicenseError("license_malformed", "expected an object with a 'license' object")
    sig_text = doc.get("signature")
    if not isinstance(sig_text, str):
        raise LicenseError("license_malformed", "expected a base64 'signature' string")
    try:
        signature = base64.b64decode(sig_text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise LicenseError("license_malformed", "signature is not base64") from exc
    return doc["license"], signature


def verify_license(text: str, public_pem: bytes, org_id: str | None, now: float) -> License:
    """The license in ``text`` if its signature, org (unless None) and dates check; else LicenseError."""
    obj, signature = _split_document(text)
    try:
        signed = canonical_json(obj)
    except RecursionError as exc:  # loaded just under the stack limit, a little deeper to encode
        raise LicenseError("license_malformed", "the license object is nested too deeply") from exc
    try:
        _public_key(public_pem).verify(signature, signed)
    except InvalidSignature as exc:
        raise LicenseError("license_signature_invalid", "signature does not match the vendor key") from exc
    try:
        lic = License.model_validate(obj)
    except ValidationError as exc:
        raise LicenseError("license_malformed", str(exc.errors(include_url=False))) from exc
    if org_id is not None and lic.org_id != org_id:
        raise LicenseError("license_wrong_org", f"license is for org {lic.org_id!r}, not {org_id!r}")
    if now < lic.valid_from.timestamp():
        raise LicenseError("license_not_yet_valid", f"license is valid from {lic.valid_from.isoformat()}")
    if now >= lic.valid_until.timestamp():
        raise LicenseError("license_expired", f"license expired at {lic.valid_until.isoformat()}")
    return lic


def parse_datetime(value: str) -> datetime:
    """An ISO datetime that must carry a timezone (CLI input)."""
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        raise ValueError(f"{value!r} has no timezone offset")
    return dt
