"""License service: upload and list licenses, admit or refuse agent logins, report usage.

Concurrent seats live in Redis (licensing.seats), named seats in PostgreSQL (licensing.named); this
module decides which licenses apply, keeps the audit trail (licensing.audit) and metrics, and persists
peaks (licensing.peaks) so usage reports survive the loss of Redis. A login waits only for what caps
depend on (the Redis claim, the named count); its peak and audit rows are written behind it.
"""

from __future__ import annotations

import builtins
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, NoReturn

import asyncpg
import redis.asyncio as aioredis
import structlog

from licensing import metrics, seats
from licensing.audit import AuditEntry
from licensing.audit import insert as insert_audit
from licensing.documents import License, LicenseModel, verify_license
from licensing.named import claim_named
from licensing.peaks import PeakLevel
from licensing.peaks import persist as persist_peaks
from licensing.periods import MeasurementPeriod, days_of, kind_of_key, parse_period_key, period_at
from licensing.writebehind import WriteBehind
from switchboard.clock import Clock

log = structlog.get_logger(__name__)

REFUSAL_CODES = ("license_missing", "license_expired", "license_concurrent_cap", "license_named_cap")
WARN_AT = ((1.0, "100%"), (0.8, "80%"))


class LicenseRefused(Exception):
    """An agent login the licenses do not allow; ``code`` is one of REFUSAL_CODES."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message or code


@dataclass
class _CachedLicenses:
    licenses: builtins.list[License]
    fetched_at: float


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt is not None else None


def _warning(used: int, seats_: int) -> str | None:
    for share, label in WARN_AT:
        if used >= share * seats_:
            return label
    return None


def _worst(warnings: builtins.list[str | None]) -> str | None:
    for _, label in WARN_AT:
        if label in warnings:
            return label
    return None


def _applicable(active: builtins.list[License], model: LicenseModel) -> License | None:
    """The license of ``model`` that governs logins; the newest wins while a renewal overlaps."""
    candidates = [lic for lic in active if lic.model == model]
    return max(candidates, key=lambda lic: (lic.valid_from, lic.seats)) if candidates else None


def _peak_keys(lic: License, now: float) -> tuple[str, tuple[str, ...]]:
    """The license period's key and, unless it is a day already, the day's: peaks are kept for both."""
    period = period_at(lic.period, lic.timezone, now)
    day = period_at("day", lic.timezone, now)
    return period.key, ((day.key,) if day.key != period.key else ())


_LICENSE_COLUMNS = "license_id, org_id, model, seats, period, timezone, valid_from, valid_until"
_UPSERT_LICENSE = """
INSERT INTO licenses (org_id, license_id, model, seats, period, timezone, valid_from, valid_until,
                      document, uploaded_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (org_id, license_id) DO UPDATE SET
    model = EXCLUDED.model, seats = EXCLUDED.seats, period = EXCLUDED.period,
    timezone = EXCLUDED.timezone, valid_from = EXCLUDED.valid_from, valid_until = EXCLUDED.valid_until,
    document = EXCLUDED.document, uploaded_by = EXCLUDED.uploaded_by, uploaded_at = now()
"""


class LicenseService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        redis: aioredis.Redis,
        public_pem: bytes,
        clock: Clock,
        cache_ttl_s: float = 2.0,
        write_window_s: float = 1.0,
    ) -> None:
        self._pool = pool
        self._redis = redis
        self._public_pem = public_pem
        self._clock = clock
        self._cache_ttl_s = cache_ttl_s
        self._cache: dict[str, _CachedLicenses] = {}

        # written behind the logins (licensing.peaks, licensing.audit); no retrying once the pool closes
        def alive() -> bool:
            return not pool.is_closing()

        self._peak_writes: WriteBehind[PeakLevel] = WriteBehind(
            "license_peaks", partial(persist_peaks, pool), window_s=write_window_s, alive=alive
        )
        self._audit_writes: WriteBehind[AuditEntry] = WriteBehind(
            "license_audit", partial(insert_audit, pool), window_s=write_window_s, alive=alive
        )

    async def flush(self) -> None:
        """Write the peaks and audit rows held behind the logins now."""
        await self._peak_writes.flush()
        await self._audit_writes.flush()

    async def close(self) -> None:
        """On shutdown, before the pool closes: nothing held behind is lost."""
        await self.flush()

    # -- licenses ---------------------------------------------------------------------------------

    async def upload(self, org_id: str, text: str, actor: str | None) -> License:
        """Verify and store a signed document; raises LicenseError (a client fault) if it doesn't check."""
        now = self._clock.now()
        lic = verify_license(text, self._public_pem, org_id, now)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                _UPSERT_LICENSE,
                org_id,
                lic.license_id,
                lic.model,
                lic.seats,
                lic.period,
                lic.timezone,
                lic.valid_from,
                lic.valid_until,
                text,
                actor,
            )
            # In the transaction of the license itself, not behind it.
            await insert_audit(
                conn,
                [
                    AuditEntry(
                        org_id,
                        _dt(now),
                        None,
                        "license_uploaded",
                        None,
                        {"license_id": lic.license_id, "actor": actor, "model": lic.model, "seats": lic.seats},
                    )
                ],
            )
        self.invalidate(org_id)
        log.info(
            "license_uploaded", org_id=org_id, license_id=lic.license_id, model=lic.model, seats=lic.seats
        )
        return lic

    async def active(self, org_id: str) -> builtins.list[License]:
        """Licenses valid now (from a cache at most ``cache_ttl_s`` old)."""
        now = self._clock.now()
        return [lic for lic in await self._cached(org_id) if lic.valid_at(now)]

    def invalidate(self, org_id: str) -> None:
        self._cache.pop(org_id, None)

    async def _cached(self, org_id: str) -> builtins.list[License]:
        # Monotonic, not the injected clock: the cache bounds staleness in real time.
        cached = self._cache.get(org_id)
        if cached is not None and time.monotonic() - cached.fetched_at < self._cache_ttl_s:
            return cached.licenses
        licenses = await self.list(org_id)
        self._cache[org_id] = _CachedLicenses(licenses, time.monotonic())
        return licenses

    # -- logins -----------------------------------------------------------------------------------

    async def check_login(self, org_id: str, agent_id: str) -> None:
        """Admit an agent login, claiming its seats, or raise LicenseRefused."""
        now = self._clock.now()
        licenses = await self._cached(org_id)
        if not licenses:
            await self._refuse(org_id, agent_id, now, "license_missing", "the organisation has no license")
        active = [lic for lic in licenses if lic.valid_at(now)]
        if not active:
            await self._refuse(
                org_id, agent_id, now, "license_expired", "no license of the organisation is valid now"
            )
        seat: seats.SeatClaim | None = None
        concurrent = _applicable(active, "concurrent")
        if concurrent is not None:
            period_key, also = _peak_keys(concurrent, now)
            seat = await seats.claim(
                self._redis, org_id, agent_id, concurrent.seats, period_key, now, also_periods=also
            )
            metrics.SEATS_IN_USE.labels(org_id).set(seat.in_use)
            if not seat.ok:
                await self._refuse(
                    org_id,
                    agent_id,
                    now,
                    "license_concurrent_cap",
                    f"all {concurrent.seats} concurrent seats are in use",
                    {"license_id": concurrent.license_id, "seats": concurrent.seats, "in_use": seat.in_use},
                )
        try:
            await self._admit(org_id, agent_id, now, concurrent, seat, _applicable(active, "named"))
        except BaseException:
            # Refused by the named license, or failed half-way: the seat must not stay taken.
            if seat is not None and not seat.already_held:
                result = await seats.release_seat(self._redis, org_id, agent_id)
                metrics.SEATS_IN_USE.labels(org_id).set(result.in_use)
            raise

    async def _admit(
        self,
        org_id: str,
        agent_id: str,
        now: float,
        concurrent: License | None,
        seat: seats.SeatClaim | None,
        named: License | None,
    ) -> None:
        """After the concurrent seat is taken: count the named agent (durably, before admitting), then
        hand the new peak and the audit rows to the writers behind the login."""
        audit: builtins.list[tuple[str, dict[str, Any]]] = []
        if concurrent is not None and seat is not None:
            if seat.peak_raised:
                # Also if the named license refuses below: the peak was reached all the same.
                period_key, also = _peak_keys(concurrent, now)
                for key in (period_key, *also):
                    self._peak_writes.defer(PeakLevel(org_id, key, seat.in_use, now))
            if not seat.already_held:
                audit.append(("seat_claimed", {"license_id": concurrent.license_id, "in_use": seat.in_use}))
        if named is not None:
            period = period_at(named.period, named.timezone, now)
            claim = await claim_named(
                self._pool, org_id, named.license_id, period.key, agent_id, named.seats, now
            )
            metrics.NAMED_AGENTS.labels(org_id).set(claim.count)
            if not claim.ok:
                await self._refuse(
                    org_id,
                    agent_id,
                    now,
                    "license_named_cap",
                    f"{named.seats} named agents already logged in during {period.key}",
                    {
                        "license_id": named.license_id,
                        "seats": named.seats,
                        "count": claim.count,
                        "period": period.key,
                    },
                )
            if not claim.already_counted:
                audit.append(
                    (
                        "named_counted",
                        {"license_id": named.license_id, "count": claim.count, "period": period.key},
                    )
                )
        if audit:
            at = _dt(now)
            for action, data in audit:
                self._audit_writes.defer(AuditEntry(org_id, at, agent_id, action, None, data))

    async def logout(self, org_id: str, agent_id: str) -> bool:
        """Release the agent's concurrent seat; False if it held none."""
        result = await seats.release_seat(self._redis, org_id, agent_id)
        metrics.SEATS_IN_USE.labels(org_id).set(result.in_use)
        if result.released:
            await self._audit(
                org_id, self._clock.now(), agent_id, "seat_released", None, {"in_use": result.in_use}
            )
        return result.released

    async def record_peaks(self, org_id: str) -> int:
        """Record the seats held now in the current period's and day's peaks; returns the seats in use.

        Meant for a periodic job (e.g. each minute), so a day on which seated agents stay logged in but
        nobody new logs in still shows them in its peak. It copies Redis's peaks of those periods into
        PostgreSQL whether or not they rose now: a process killed with raises still held behind its
        logins (licensing.peaks) lost only its own write, never the peak, which Redis holds.
        """
        now = self._clock.now()
        concurrent = _applicable(await self.active(org_id), "concurrent")
        if concurrent is None:
            return await seats.in_use(self._redis, org_id)
        period_key, also = _peak_keys(concurrent, now)
        in_use, _ = await seats.record_peak(self._redis, org_id, period_key, now, also_periods=also)
        metrics.SEATS_IN_USE.labels(org_id).set(in_use)
        levels = await seats.peaks(self._redis, org_id, [period_key, *also])
        await persist_peaks(
            self._pool,
            [
                PeakLevel(org_id, key, count, at if at is not None else now)
                for key, (count, at) in levels.items()
            ],
        )
        return in_use

    async def _refuse(
        self,
        org_id: str,
        agent_id: str,
        now: float,
        code: str,
        message: str,
        data: dict[str, Any] | None = None,
    ) -> NoReturn:
        metrics.REFUSALS.labels(org_id, code).inc()
        # Awaited, unlike the claims' rows: the refusal is the one record of a login that left no trace.
        await self._audit(org_id, now, agent_id, "login_refused", code, data or {})
        log.info("license_login_refused", org_id=org_id, agent_id=agent_id, code=code)
        raise LicenseRefused(code, message)

    async def _audit(
        self,
        org_id: str,
        now: float,
        agent_id: str | None,
        action: str,
        code: str | None,
        data: dict[str, Any],
    ) -> None:
        await self._audit_writes.commit(AuditEntry(org_id, _dt(now), agent_id, action, code, data))

    # -- usage ------------------------------------------------------------------------------------

    async def usage(self, org_id: str, period_key: str | None = None) -> dict[str, Any]:
        """Usage per license for ``period_key`` (e.g. "2026-11"), or each active license's current period.

        A key reports the licenses whose period kind matches its shape and whose validity overlaps it.
        Raises ValueError for a key that is not a period key.
        """
        now = self._clock.now()
        kind = kind_of_key(period_key) if period_key is not None else None
        reports: builtins.list[dict[str, Any]] = []
        for lic in await self.list(org_id):
            if period_key is None or kind is None:
                if not lic.valid_at(now):
                    continue
                period = period_at(lic.period, lic.timezone, now)
            else:
                if lic.period != kind:
                    continue
                period = parse_period_key(kind, period_key, lic.timezone)
                if not (lic.valid_from < period.end and period.start < lic.valid_until):
                    continue
            reports.append(await self._license_usage(org_id, lic, period, now))
        tz = reports[0]["timezone"] if reports else "UTC"
        if period_key is not None and kind is not None:
            org_period = parse_period_key(kind, period_key, tz)
        else:
            org_period = period_at("month", tz, now)
        return {
            "org_id": org_id,
            "period": period_key,
            "licenses": reports,
            "refusals": await self._refusals(org_id, org_period, None),
            "warning": _worst([r["warning"] for r in reports]),
        }

    async def _license_usage(
        self, org_id: str, lic: License, period: MeasurementPeriod, now: float
    ) -> dict[str, Any]:
        days = days_of(period)
        peaks = await self._peaks(org_id, [period.key, *(d.key for d in days)])
        live = await seats.in_use(self._redis, org_id)
        # A period starts with the agents already seated, before any claim records them.
        for p in (period, *days):
            if p.contains(now) and live > peaks.get(p.key, (0, None))[0]:
                peaks[p.key] = (live, _dt(now))
        named_total: int | None = None
        named_daily: dict[str, int] = {}
        if lic.model == "named":
            rows = await self._pool.fetch(
                "SELECT to_char(first_login_at AT TIME ZONE $4, 'YYYY-MM-DD') AS day, count(*) AS n"
                " FROM license_named_agents WHERE org_id = $1 AND license_id = $2 AND period_key = $3"
                " GROUP BY 1",
                org_id,
                lic.license_id,
                period.key,
                lic.timezone,
            )
            named_daily = {r["day"]: int(r["n"]) for r in rows}
            named_total = sum(named_daily.values())
        peak_count, peak_at = peaks.get(period.key, (0, None))
        used = peak_count if lic.model == "concurrent" else named_total or 0
        return {
            "license_id": lic.license_id,
            "model": lic.model,
            "seats": lic.seats,
            "period": lic.period,
            "timezone": lic.timezone,
            "period_key": period.key,
            "period_start": period.start.isoformat(),
            "period_end": period.end.isoformat(),
            "valid_from": lic.valid_from.isoformat(),
            "valid_until": lic.valid_until.isoformat(),
            "peak_concurrent": peak_count,
            "peak_concurrent_at": _iso(peak_at),
            "named_count": named_total,
            "refusals": await self._refusals(org_id, period, lic.license_id),
            "daily": [
                {
                    "date": d.key,
                    "peak_concurrent": peaks.get(d.key, (0, None))[0],
                    "named_new": named_daily.get(d.key, 0) if lic.model == "named" else None,
                }
                for d in days
            ],
            "used": used,
            "warning": _warning(used, lic.seats),
        }

    async def _peaks(self, org_id: str, keys: builtins.list[str]) -> dict[str, tuple[int, datetime | None]]:
        """Peak per period key: PostgreSQL's durable value, or Redis's if a persist was lost."""
        rows = await self._pool.fetch(
            "SELECT period_key, peak_concurrent, peak_at FROM license_usage"
            " WHERE org_id = $1 AND period_key = ANY($2::text[])",
            org_id,
            keys,
        )
        out: dict[str, tuple[int, datetime | None]] = {
            r["period_key"]: (int(r["peak_concurrent"]), r["peak_at"]) for r in rows
        }
        for key, (count, at) in (await seats.peaks(self._redis, org_id, keys)).items():
            if count > out.get(key, (0, None))[0]:
                out[key] = (count, _dt(at) if at is not None else None)
        return out

    async def _refusals(
        self, org_id: str, period: MeasurementPeriod, license_id: str | None
    ) -> dict[str, int]:
        rows = await self._pool.fetch(
            "SELECT code, count(*) AS n FROM license_audit"
            " WHERE org_id = $1 AND action = 'login_refused' AND at >= $2 AND at < $3"
            " AND ($4::text IS NULL OR data->>'license_id' = $4)"
            " GROUP BY code",
            org_id,
            period.start,
            period.end,
            license_id,
        )
        return {r["code"]: int(r["n"]) for r in rows}

    # -- listing (last: the method name shadows the builtin inside the class body) -----------------

    async def list(self, org_id: str) -> builtins.list[License]:
        """Every license stored for the org, valid or not, oldest first."""
        rows = await self._pool.fetch(
            f"SELECT {_LICENSE_COLUMNS} FROM licenses WHERE org_id = $1 ORDER BY valid_from, license_id",
            org_id,
        )
        return [License.model_validate(dict(r)) for r in rows]
