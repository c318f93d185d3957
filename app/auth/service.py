"""Users, API keys and logins."""

from __future__ import annotations

import time
import uuid
from collections import deque

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import ApiKey, User
from app.auth.schemas import ApiKeyCreate, RoleLinks, UserCreate, UserUpdate
from app.core.concurrency import apply_changes, check_version
from app.core.db import utcnow
from app.core.errors import Conflict, NotFound, RateLimited, ValidationFailed
from app.core.pagination import PageParams, paginate
from app.core.security import Caller, PasswordHashing, Role, api_key_digest, new_api_key
from app.directory.models import ReferringProfessional, Therapist


async def _check_links(db: AsyncSession, links: RoleLinks) -> None:
    if links.therapist_id is not None and await db.get(Therapist, links.therapist_id) is None:
        raise ValidationFailed.field(["body", "therapist_id"], "no such therapist")
    if (
        links.referring_professional_id is not None
        and await db.get(ReferringProfessional, links.referring_professional_id) is None
    ):
        raise ValidationFailed.field(
            ["body", "referring_professional_id"], "no such referring professional"
        )


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def create_user(db: AsyncSession, data: UserCreate, hashing: PasswordHashing) -> User:
    await _check_links(db, data)
    email = normalize_email(data.email)
    taken = await db.scalar(select(func.count()).where(User.email == email))
    if taken:
        raise Conflict("A user with this email already exists")
    user = User(
        email=email,
        password_hash=hashing.hash(data.password),
        display_name=data.display_name,
        role=data.role.value,
        therapist_id=data.therapist_id,
        referring_professional_id=data.referring_professional_id,
    )
    db.add(user)
    await db.flush()
    return user


async def get_user(db: AsyncSession, user_id: uuid.UUID) -> User:
    user = await db.get(User, user_id)
    if user is None:
        raise NotFound("No such user")
    return user


async def list_users(db: AsyncSession, page: PageParams) -> list[User]:
    return list((await db.scalars(paginate(select(User), User, page))).all())


async def update_user(
    db: AsyncSession,
    user: User,
    patch: UserUpdate,
    expected_version: int,
    hashing: PasswordHashing,
) -> User:
    check_version(user.version, expected_version)
    changes = patch.changes()
    if "password" in changes:
        changes["password_hash"] = hashing.hash(changes.pop("password"))
    apply_changes(user, changes)
    await db.flush()
    return user


def caller_for_user(user: User) -> Caller:
    return Caller(
        actor_type="user",
        actor_id=user.id,
        role=Role(user.role),
        therapist_id=user.therapist_id,
        referring_professional_id=user.referring_professional_id,
    )


async def authenticate(
    db: AsyncSession, email: str, password: str, hashing: PasswordHashing
) -> User | None:
    user = await db.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        hashing.dummy_verify()
        return None
    if not hashing.verify(user.password_hash, password) or not user.active:
        return None
    return user


async def create_api_key(
    db: AsyncSession, data: ApiKeyCreate, created_by: uuid.UUID | None
) -> tuple[ApiKey, str]:
    await _check_links(db, data)
    key = new_api_key()
    record = ApiKey(
        name=data.name,
        role=data.role.value,
        therapist_id=data.therapist_id,
        referring_professional_id=data.referring_professional_id,
        key_prefix=key[:12],
        key_hash=api_key_digest(key),
        created_by=created_by,
    )
    db.add(record)
    await db.flush()
    return record, key


async def get_api_key(db: AsyncSession, key_id: uuid.UUID) -> ApiKey:
    record = await db.get(ApiKey, key_id)
    if record is None:
        raise NotFound("No such API key")
    return record


async def list_api_keys(db: AsyncSession, page: PageParams) -> list[ApiKey]:
    return list((await db.scalars(paginate(select(ApiKey), ApiKey, page))).all())


async def revoke_api_key(db: AsyncSession, record: ApiKey) -> None:
    if record.revoked_at is None:
        record.revoked_at = utcnow()
        await db.flush()


class LoginThrottle:
    """Slows password guessing: after `limit` failed logins for one email within `window`
    seconds, further attempts get 429 until the oldest failure leaves the window.
    Kept per worker process."""

    def __init__(self, limit: int = 10, window: float = 300.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def check(self, email: str) -> None:
        now = time.monotonic()
        failures = self._recent(normalize_email(email), now)
        if len(failures) >= self.limit:
            retry_after = max(1, int(failures[0] + self.window - now) + 1)
            raise RateLimited(
                "Too many failed logins for this account; try again later", retry_after
            )

    def failed(self, email: str) -> None:
        now = time.monotonic()
        self._recent(normalize_email(email), now).append(now)
        if len(self._failures) > 100_000:
            self._failures.clear()

    def succeeded(self, email: str) -> None:
        self._failures.pop(normalize_email(email), None)
