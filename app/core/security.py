"""Roles, callers, password hashing, access tokens and API key material."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

JWT_ALGORITHM = "HS256"
API_KEY_PREFIX = "cpk_"


class Role(StrEnum):
    admin = "admin"
    therapist = "therapist"
    front_desk = "front_desk"
    referrer = "referrer"


ALL_ROLES = frozenset(Role)
CLINIC_STAFF = frozenset({Role.admin, Role.therapist, Role.front_desk})
CLINICAL_STAFF = frozenset({Role.admin, Role.therapist})


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is making the request: a user (access token) or an integration script (API key)."""

    actor_type: Literal["user", "api_key"]
    actor_id: uuid.UUID
    role: Role
    therapist_id: uuid.UUID | None = None
    referring_professional_id: uuid.UUID | None = None

    @property
    def sees_clinical_content(self) -> bool:
        return self.role is not Role.front_desk


class PasswordHashing:
    """argon2id, memory-hard; parameters come from the settings."""

    def __init__(self, time_cost: int, memory_kib: int) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def dummy_verify(self) -> None:
        """Spend the same time as a real check, so unknown emails cannot be told apart."""
        self.verify(self._dummy_hash, "not the password")

    @property
    def _dummy_hash(self) -> str:
        cached: str | None = getattr(self, "_dummy", None)
        if cached is None:
            cached = self._hasher.hash(secrets.token_urlsafe(16))
            self._dummy = cached
        return cached


def issue_access_token(caller: Caller, secret_key: str, minutes: int, *, generation: int) -> str:
    """A signed access token for a user; `generation` is the user's `token_generation`, which
    every request checks against the user row (see `app.auth.service.access_token_is_current`)."""
    now = dt.datetime.now(dt.UTC)
    claims: dict[str, Any] = {
        "sub": str(caller.actor_id),
        "role": caller.role.value,
        "gen": generation,
        "iat": now,
        "exp": now + dt.timedelta(minutes=minutes),
        "typ": "access",
    }
    if caller.therapist_id:
        claims["tid"] = str(caller.therapist_id)
    if caller.referring_professional_id:
        claims["rpid"] = str(caller.referring_professional_id)
    return jwt.encode(claims, secret_key, algorithm=JWT_ALGORITHM)


@dataclass(frozen=True, slots=True)
class AccessTokenClaims:
    """What a well-signed, unexpired access token says; whether it is still current is the
    database's to tell."""

    caller: Caller
    generation: int


def read_access_token(token: str, secret_key: str) -> AccessTokenClaims | None:
    try:
        claims = jwt.decode(
            token,
            secret_key,
            algorithms=[JWT_ALGORITHM],
            options={"require": ["exp", "sub", "role", "gen"]},
        )
        generation = claims["gen"]
        if claims.get("typ") != "access" or type(generation) is not int:
            return None
        caller = Caller(
            actor_type="user",
            actor_id=uuid.UUID(claims["sub"]),
            role=Role(claims["role"]),
            therapist_id=uuid.UUID(claims["tid"]) if claims.get("tid") else None,
            referring_professional_id=uuid.UUID(claims["rpid"]) if claims.get("rpid") else None,
        )
        return AccessTokenClaims(caller, generation)
    except (jwt.PyJWTError, ValueError, KeyError, TypeError):
        return None


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def api_key_digest(key: str) -> str:
    """API keys carry 256 random bits, so a fast hash is enough to store them safely."""
    return hashlib.sha256(key.encode()).hexdigest()
