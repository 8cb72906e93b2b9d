"""Authentication: argon2 password hashes, signed expiring bearer tokens, hashed integration keys.

Tokens are HS256 JWTs carrying org, user and role, so checking one costs no database round trip;
revocation (logout) is recorded in PostgreSQL and checked in a Redis set of revoked token ids
(web/revocation.py).
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Literal

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

Role = Literal["agent", "supervisor", "admin", "integration"]
_hasher = PasswordHasher()
# Verifying against this keeps an unknown email as slow as a wrong password.
_DUMMY_HASH = _hasher.hash("switchboard-dummy-password")


@dataclass(frozen=True)
class Principal:
    org_id: str
    role: Role
    subject: str  # user id, or api key id for integrations
    token_id: str | None = None
    expires_at: float | None = None

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


def issue_token(secret: str, org_id: str, user_id: str, role: Role, ttl_s: int) -> tuple[str, str, float]:
    jti = uuid.uuid4().hex
    exp = time.time() + ttl_s
    token = jwt.encode({"sub": user_id, "org": org_id, "role": role, "jti": jti, "exp": int(exp)}, secret, "HS256")
    return token, jti, exp


class TokenError(Exception):
    pass


def decode_token(secret: str, token: str) -> Principal:
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp", "sub", "org", "role"]})
    except jwt.ExpiredSignatureError as e:
        raise TokenError("token expired") from e
    except jwt.PyJWTError as e:
        raise TokenError("invalid token") from e
    if claims["role"] not in ("agent", "supervisor", "admin"):
        raise TokenError("invalid token")
    return Principal(claims["org"], claims["role"], claims["sub"], claims.get("jti"), float(claims["exp"]))


def new_api_key() -> str:
    return "sbk_" + secrets.token_urlsafe(32)


def api_key_hash(key: str) -> str:
    """Integration keys are long random strings, so a plain SHA-256 is a sound stored form."""
    return hashlib.sha256(key.encode()).hexdigest()


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2
