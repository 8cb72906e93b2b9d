"""E.164 normalisation and the per-org country allow-list."""

from __future__ import annotations

import pytest

from channels.model import WebhookError
from channels.phone import country_allowed, ensure_country_allowed, normalise_e164


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+1 (415) 555-0199", None, "+14155550199"),
        ("415-555-0199", "US", "+14155550199"),
        ("030 901820", "DE", "+4930901820"),
        ("0044 20 7946 0958", None, "+442079460958"),
        ("+44 7400 123456", "US", "+447400123456"),
    ],
)
def test_numbers_are_normalised_to_e164(raw: str, region: str | None, expected: str) -> None:
    assert normalise_e164(raw, region) == expected


@pytest.mark.parametrize("raw", ["", "hello", "12", "+999 123", "415-555-0199"])
def test_junk_is_refused_with_422(raw: str) -> None:
    with pytest.raises(WebhookError) as err:
        normalise_e164(raw)
    assert (err.value.status, err.value.code) == (422, "invalid_phone_number")


def test_allow_list_by_country() -> None:
    assert country_allowed("+14155550199", ["US", "CA"])
    assert country_allowed("+4930901820", ["de"])
    assert not country_allowed("+447400123456", ["US", "DE"])
    assert country_allowed("+447400123456", [])


def test_disallowed_country_is_forbidden() -> None:
    with pytest.raises(WebhookError) as err:
        ensure_country_allowed("+447400123456", ["US"])
    assert (err.value.status, err.value.code) == (403, "country_not_allowed")


def test_uk_number_counts_as_gb() -> None:
    assert country_allowed("+447400123456", ["GB"])
