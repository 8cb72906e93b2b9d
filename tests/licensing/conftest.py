"""Licensing fixtures: a test vendor key pair, license documents, and orgs with rows in PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from licensing.documents import License, generate_keypair, sign_license

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def vendor_keys() -> tuple[bytes, bytes]:
    return generate_keypair()


@pytest.fixture
def make_license() -> Callable[..., License]:
    """A License for the test org with overridable fields, valid around NOW by default."""

    def make(org_id: str, **fields: Any) -> License:
        values: dict[str, Any] = {
            "license_id": f"lic-{org_id}-{fields.get('model', 'concurrent')}",
            "org_id": org_id,
            "model": "concurrent",
            "seats": 5,
            "period": "month",
            "timezone": "UTC",
            "valid_from": NOW - timedelta(days=30),
            "valid_until": NOW + timedelta(days=365),
        }
        values.update(fields)
        return License(**values)

    return make


@pytest.fixture
def issue(vendor_keys: tuple[bytes, bytes], make_license: Callable[..., License]) -> Callable[..., str]:
    """A signed document for the test vendor key."""

    def sign(org_id: str, **fields: Any) -> str:
        return sign_license(make_license(org_id, **fields), vendor_keys[0])

    return sign


@pytest.fixture
async def org(pool: asyncpg.Pool, org_id: str) -> str:
    """The test org, with its orgs row (licenses reference it)."""
    await pool.execute("INSERT INTO orgs (id, name) VALUES ($1, $1)", org_id)
    return org_id
