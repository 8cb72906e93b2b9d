"""Settings from SWITCHBOARD_* environment variables, as one typed object."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "switchboard-development-secret-change-me"
PACKAGE_DIR = Path(__file__).resolve().parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_", extra="ignore")

    redis_url: str = "redis://127.0.0.1:6390/0"
    # The URL names one node of a Redis Cluster (the others are discovered); keys are hash-tagged by org.
    redis_cluster: bool = False
    database_url: str = "postgresql://postgres@127.0.0.1:5440/switchboard"
    host: str = "127.0.0.1"
    port: int = 8080
    log_level: str = "INFO"
    # Signs bearer tokens; every server process of one deployment must share it.
    secret_key: str = DEV_SECRET
    token_ttl_s: int = 12 * 3600
    # Vendor Ed25519 public key (PEM file path) that license documents must be signed with.
    license_public_key_file: Path = PACKAGE_DIR / "dev_keys" / "vendor_public.pem"
    db_pool_min: int = 2
    db_pool_max: int = 20
    # A new PostgreSQL connection that takes longer fails (as PostgreSQL down) instead of hanging.
    db_connect_timeout_s: float = 5.0
    # How often each process polls Redis timers (offer timeouts, escalation, wrap-up, seat grace).
    timer_poll_ms: int = 100
    seat_grace_s: int = 60
    # How often PostgreSQL-open interactions missing from Redis are queued again.
    reconcile_interval_s: float = 30.0
    # An org with no timers and no agent online leaves the timer pollers' set after this long idle
    # (routing/active_orgs.py), and is watched for the probation time after.
    active_org_idle_s: float = 60.0
    active_org_probation_s: float = 30.0
    max_body_bytes: int = 256 * 1024
    node_id: str = Field(default="")
    # Emit through python-socketio's Redis manager (needed when several processes serve sockets).
    socketio_redis: bool = True
    login_rate_per_min: int = 30
    intake_rate_per_s: int = 2000


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
