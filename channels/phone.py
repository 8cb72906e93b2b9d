"""Phone numbers in one canonical form (E.164) so the same customer is recognised on every channel."""

from __future__ import annotations

import phonenumbers

from channels.model import WebhookError


def normalise_e164(raw: str, default_region: str | None = None) -> str:
    """Return ``raw`` as E.164 (``+14155550100``); national numbers need ``default_region``."""
    text = (raw or "").strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise WebhookError(422, "invalid_phone_number", f"not a phone number: {raw!r}") from exc
    if not phonenumbers.is_possible_number(number) or not phonenumbers.is_valid_number(number):
        raise WebhookError(422, "invalid_phone_number", f"not a valid phone number: {raw!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def country_of(e164: str) -> str | None:
    """ISO 3166 alpha-2 region of an E.164 number, or None when it belongs to no single region."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None
    region: str | None = phonenumbers.region_code_for_number(number)
    return region if region and region != "001" else None


def country_allowed(e164: str, allowed_countries: list[str]) -> bool:
    """True when the number's country is on the allow-list; an empty list allows every country."""
    if not allowed_countries:
        return True
    region = country_of(e164)
    return region is not None and region.upper() in {c.upper() for c in allowed_countries}


def ensure_country_allowed(e164: str, allowed_countries: list[str]) -> None:
    """Refuse traffic from countries the org does not serve (toll fraud, compliance)."""
    if not country_allowed(e164, allowed_countries):
        raise WebhookError(403, "country_not_allowed", f"{e164} is outside the allowed countries")
