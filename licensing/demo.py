"""Licenses for the demo organisation, signed with the development vendor key shipped in the repo."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import switchboard
from licensing.documents import License, LicenseModel, sign_license

DEV_KEYS_DIR = Path(switchboard.__file__).resolve().parent / "dev_keys"
DEV_PRIVATE_KEY = DEV_KEYS_DIR / "vendor_private.pem"
DEV_PUBLIC_KEY = DEV_KEYS_DIR / "vendor_public.pem"

DEMO_SEATS: tuple[tuple[LicenseModel, int], ...] = (("concurrent", 25), ("named", 50))


def dev_public_key() -> bytes:
    return DEV_PUBLIC_KEY.read_bytes()


def demo_licenses(org_id: str, now: float) -> list[str]:
    """A 25-seat concurrent and a 50-seat named monthly UTC license, valid 30 days back to 365 ahead.

    The ids are fixed per org so seeding twice replaces the documents instead of adding licenses.
    """
    private_pem = DEV_PRIVATE_KEY.read_bytes()
    at = datetime.fromtimestamp(now, UTC).replace(microsecond=0)
    return [
        sign_license(
            License(
                license_id=f"demo-{org_id}-{model}",
                org_id=org_id,
                model=model,
                seats=seats,
                period="month",
                timezone="UTC",
                valid_from=at - timedelta(days=30),
                valid_until=at + timedelta(days=365),
            ),
            private_pem,
        )
        for model, seats in DEMO_SEATS
    ]
