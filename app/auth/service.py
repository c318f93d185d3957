"""Users, API keys and logins."""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, and_, bindparam, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.callers import CallerMemory, UserState
from app.auth.models import ApiKey, LoginFailure, User
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
    """A new password, a new role (or role link) and deactivation revoke the user's access
    tokens at once: they bump `token_generation`."""
    check_version(user.version, expected_version)
    changes = patch.changes()
    revoke = False
    if "password" in changes:
        changes["password_hash"] = hashing.hash(changes.pop("password"))
        revoke = True
    if ROLE_FIELDS & changes.keys():
        links = await _new_role_links(db, user, changes)
        if (links.role.value, links.therapist_id, links.referring_professional_id) != (
            user.role,
            user.therapist_id,
            user.referring_professional_id,
        ):
            revoke = True
        changes.update(
            role=links.role.value,
            therapist_id=links.therapist_id,
            referring_professional_id=links.referring_professional_id,
        )
    if changes.get("active") is False and user.active:
        revoke = True
    if revoke:
        changes["token_generation"] = user.token_generation + 1
    apply_changes(user, changes)
    await db.flush()
    return user


ROLE_FIELDS = frozenset({"role", "therapist_id", "referring_professional_id"})


async def _new_role_links(db: AsyncSession, user: User, changes: dict[str, Any]) -> RoleLinks:
    """The role and links after a change. A new role drops the links it does not take unless
    the change names them."""
    role_changes = "role" in changes
    try:
        links = RoleLinks.model_validate(
            {
                "role": changes.get("role", user.role),
                "therapist_id": changes.get(
                    "therapist_id", None if role_changes else user.therapist_id
                ),
                "referring_professional_id": changes.get(
                    "referring_professional_id",
                    None if role_changes else user.referring_professional_id,
                ),
            }
        )
    except ValidationError as error:
        message = str(error.errors()[0]["msg"]).removeprefix("Value error, ")
        raise ValidationFailed.field(["body", "role"], message) from None
    await _check_links(db, links)
    return links


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


# ---- revocation of access tokens ---------------------------------------------------------------


async def access_token_is_current(
    session: Callable[[], Awaitable[AsyncSession]],
    user_id: uuid.UUID,
    generation: int,
    memory: CallerMemory,
) -> bool:
    """The one check every request with a user access token passes: the user still exists, is
    active, and has not changed password or role since the token was issued (the token's
    generation is still the user's). State lives in the database, so a change made through one
    worker holds on every worker; the worker's memory of it (`app.auth.callers`) is emptied by
    every change PostgreSQL notifies. `session` opens the request's database session, which a
    remembered user does not need."""
    state = memory.user(user_id)
    if state is None:
        epoch = memory.epoch
        db = await session()
        row = (await db.execute(_USER_STATE, {"user_id": user_id})).one_or_none()
        if row is None:
            return False
        state = UserState(bool(row.active), row.token_generation)
        memory.remember_user(user_id, state, epoch)
    return state.active and state.token_generation == generation


_USER_STATE = select(User.active, User.token_generation).where(User.id == bindparam("user_id"))


# ---- login throttling --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ThrottleLimits:
    """Failed logins allowed within `window_s` seconds, per scope."""

    per_account_and_address: int = 5
    per_address: int = 20
    per_account: int = 50
    window_s: int = 15 * 60


def throttle_address(address: str | None) -> str:
    """The address a failure is counted against: IPv6 clients by their /64 (one subscriber's
    usual allocation, so hopping addresses within it does not dodge the limit)."""
    if address is None:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip.ipv4_mapped or ip) if isinstance(ip, ipaddress.IPv6Address) else str(ip)


class LoginThrottle:
    """Slows password guessing, with the failures kept in the database (`login_failures`) so
    every worker counts the same attempts. Three sliding windows, each checked before the
    password is (a throttled attempt costs no argon2 work and is not itself counted, so waiting
    always ends the block):

    * per account *and* address (5 in 15 minutes): guessing one account from one place. It is
      the tight limit, and it only ever blocks the address that made the failures: a stranger's
      wrong passwords do not lock the real user out of their own address.
    * per address (20 in 15 minutes, IPv6 by /64): one address spraying many accounts.
    * per account (50 in 15 minutes, from all addresses together): a guess spread over many
      addresses. Deliberately looser: reaching it takes at least ten addresses, each already
      blocked on that account, and it lapses by itself as the failures age out of the window.

    A successful login clears the failures of that account from that address (they were the
    real user's typos); it leaves the address's failures on other accounts, so logging into an
    account of one's own does not reset a spray. Blocked attempts answer 429 `rate-limited`
    with `Retry-After`: the seconds until the exceeded window has room again.
    """

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], limits: ThrottleLimits | None = None
    ) -> None:
        self.sessionmaker = sessionmaker
        self.limits = limits or ThrottleLimits()

    def _scopes(self, account: str, address: str) -> list[tuple[ColumnElement[bool], int, str]]:
        by_account = LoginFailure.account == account
        by_address = LoginFailure.address == address
        limits = self.limits
        return [
            (
                and_(by_account, by_address),
                limits.per_account_and_address,
                "Too many failed logins for this account from this address",
            ),
            (by_address, limits.per_address, "Too many failed logins from this address"),
            (by_account, limits.per_account, "Too many failed logins for this account"),
        ]

    async def check(self, db: AsyncSession, email: str, address: str | None) -> None:
        """429 when any window is full; one query when none is."""
        account, where = normalize_email(email), throttle_address(address)
        now = utcnow()
        since = now - dt.timedelta(seconds=self.limits.window_s)
        scopes = self._scopes(account, where)
        counts = (
            await db.execute(
                select(*(func.count().filter(condition) for condition, _, _ in scopes)).where(
                    LoginFailure.at > since,
                    or_(LoginFailure.account == account, LoginFailure.address == where),
                )
            )
        ).one()
        for (condition, limit, message), count in zip(scopes, counts, strict=True):
            if count >= limit:
                # the window has room again when the limit-th newest failure leaves it
                oldest_counted = await db.scalar(
                    select(LoginFailure.at)
                    .where(condition, LoginFailure.at > since)
                    .order_by(LoginFailure.at.desc())
                    .offset(limit - 1)
                    .limit(1)
                )
                frees_at = (oldest_counted or now) + dt.timedelta(seconds=self.limits.window_s)
                retry_after = max(1, math.ceil((frees_at - now).total_seconds()))
                raise RateLimited(f"{message}; try again later", retry_after)

    async def failed(self, db: AsyncSession, email: str, address: str | None) -> None:
        """Records a failure in a transaction of its own, so it outlives the 401 that rolls the
        request back; the request's session is rolled back first (it holds nothing to keep)."""
        await db.rollback()
        now = utcnow()
        async with self.sessionmaker() as session:
            session.add(
                LoginFailure(
                    at=now, account=normalize_email(email), address=throttle_address(address)
                )
            )
            # failures older than the window count for nothing: forget them as we go
            cutoff = now - dt.timedelta(seconds=self.limits.window_s)
            await session.execute(delete(LoginFailure).where(LoginFailure.at <= cutoff))
            await session.commit()

    async def succeeded(self, db: AsyncSession, email: str, address: str | None) -> None:
        """In the request's transaction: the account's failures from this address are forgiven."""
        await db.execute(
            delete(LoginFailure).where(
                LoginFailure.account == normalize_email(email),
                LoginFailure.address == throttle_address(address),
            )
        )
