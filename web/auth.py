"""Authentication: argon2 password hashes, signed expiring bearer tokens, hashed integration keys.

Tokens are HS256 JWTs carrying org, user, role and when they were issued, so checking one costs no
database round trip; revocation (a logout, or a user's cutoff: deactivation, a password or role
change) is recorded in PostgreSQL and checked in Redis (web/revocation.py).
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Literal

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from switchboard.settings import Settings

Role = Literal["agent", "supervisor", "admin", "integration"]
_hasher = PasswordHasher()
# Verifying against this keeps an unknown email as slow as a wrong password.
_DUMMY_HASH = _hasher.hash("switchboard-dummy-password")
# Tokens issued before ``iat`` was added count as issued this long before they expire (the default TTL).
LEGACY_TTL_S: int = Settings.model_fields["token_ttl_s"].default


@dataclass(frozen=True)
class Principal:
    org_id: str
    role: Role
    subject: str  # user id, or api key id for integrations
    token_id: str | None = None
    expires_at: float | None = None
    issued_at: float | None = None  # compared with the user's cutoff (web/revocation.py)

    @property
    def user_id(self) -> str | None:
        return None if self.role == "integration" else self.subject


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def token_time() -> float:
    """Now, in whole milliseconds: the precision of ``iat`` and of users' cutoffs, so a login in a
    later millisecond than a cutoff counts as after it."""
    return math.floor(time.time() * 1000) / 1000


def issue_token(secret: str, org_id: str, user_id: str, role: Role, ttl_s: int) -> tuple[str, str, float]:
    jti = uuid.uuid4().hex
    now = token_time()
    exp = now + ttl_s
    claims = {"sub": user_id, "org": org_id, "role": role, "jti": jti, "iat": now, "exp": int(exp)}
    return jwt.encode(claims, secret, "HS256"), jti, exp


class TokenError(Exception):
    pass


def decode_token(secret: str, token: str) -> Principal:
    # iat is not checked against this node's clock: a node whose clock runs behind the issuer's must
    # not refuse a fresh token. It only orders the token against its user's cutoff.
    try:
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], options={"require": ["exp", "sub", "org", "role"], "verify_iat": False}
        )
    except jwt.ExpiredSignatureError as e:
        raise TokenError("token expired") from e
    except jwt.PyJWTError as e:
        raise TokenError("invalid token") from e
    if claims["role"] not in ("agent", "supervisor", "admin"):
        raise TokenError("invalid token")
    exp = float(claims["exp"])
    iat = claims.get("iat", exp - LEGACY_TTL_S)
    if isinstance(iat, bool) or not isinstance(iat, int | float):
        raise TokenError("invalid token")
    return Principal(claims["org"], claims["role"], claims["sub"], claims.get("jti"), exp, float(iat))


def new_api_key() -> str:
    return "sbk_" + secrets.token_urlsafe(32)


def api_key_hash(key: str) -> str:
    """Integration keys are long random strings, so a plain SHA-256 is a sound stored form."""
    return hashlib.sha256(key.encode()).hexdigest()


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2
