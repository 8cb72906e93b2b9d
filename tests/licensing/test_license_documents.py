import base64
import json
from datetime import UTC, datetime

import pytest

from licensing.documents import License, LicenseError, canonical_json, generate_keypair, verify_license

# The instant conftest's licenses are valid around.
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
T = NOW.timestamp()


def _code(text: str, public_pem: bytes, org_id: str = "acme", now: float = T) -> str:
    with pytest.raises(LicenseError) as err:
        verify_license(text, public_pem, org_id, now)
    return err.value.code


def test_signed_license_verifies_to_the_same_license(issue, vendor_keys, make_license):
    text = issue("acme", model="named", seats=50, period="week", timezone="Asia/Kolkata")
    lic = verify_license(text, vendor_keys[1], "acme", T)
    assert lic == make_license("acme", model="named", seats=50, period="week", timezone="Asia/Kolkata")


def test_tampered_license_is_refused_as_signature_invalid(issue, vendor_keys):
    doc = json.loads(issue("acme", seats=5))
    doc["license"]["seats"] = 500
    assert _code(json.dumps(doc), vendor_keys[1]) == "license_signature_invalid"


def test_license_signed_by_another_key_is_refused(issue):
    _, other_public = generate_keypair()
    assert _code(issue("acme"), other_public) == "license_signature_invalid"


def test_expired_license_is_refused(issue, vendor_keys):
    text = issue("acme")
    lic = verify_license(text, vendor_keys[1], "acme", T)
    assert _code(text, vendor_keys[1], now=lic.valid_until.timestamp()) == "license_expired"


def test_wrong_org_license_is_refused(issue, vendor_keys):
    assert _code(issue("acme"), vendor_keys[1], org_id="globex") == "license_wrong_org"


def test_not_yet_valid_license_is_refused(issue, vendor_keys):
    text = issue("acme")
    lic = verify_license(text, vendor_keys[1], "acme", T)
    assert _code(text, vendor_keys[1], now=lic.valid_from.timestamp() - 1) == "license_not_yet_valid"


@pytest.mark.parametrize("text", ["not json", "[]", '{"license": {}}', '{"license": {}, "signature": "%%%"}'])
def test_malformed_document_is_refused(text, vendor_keys):
    assert _code(text, vendor_keys[1]) == "license_malformed"


def test_signed_but_invalid_fields_are_malformed(vendor_keys):
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    obj = {"license_id": "x", "org_id": "acme", "model": "concurrent", "seats": 0, "timezone": "Mars/Base"}
    signature = load_pem_private_key(vendor_keys[0], None).sign(canonical_json(obj))
    text = json.dumps({"license": obj, "signature": base64.b64encode(signature).decode()})
    assert _code(text, vendor_keys[1]) == "license_malformed"


def test_unknown_timezone_is_rejected_by_the_model(make_license):
    with pytest.raises(ValueError):
        make_license("acme", timezone="Mars/Olympus_Mons")


def test_naive_dates_are_rejected_by_the_model(make_license):
    with pytest.raises(ValueError):
        make_license("acme", valid_from=NOW.replace(tzinfo=None))


def test_signature_covers_the_canonical_json_of_the_license_object(issue, vendor_keys):
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    doc = json.loads(issue("acme"))
    expected = json.dumps(doc["license"], sort_keys=True, separators=(",", ":")).encode()
    load_pem_public_key(vendor_keys[1]).verify(base64.b64decode(doc["signature"]), expected)
    # Reformatting the document does not matter: only the license object's content is signed.
    assert isinstance(verify_license(json.dumps(doc, indent=7), vendor_keys[1], "acme", T), License)
