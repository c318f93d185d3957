"""Who is calling, and whether their role may use a route. Decided here, once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import bindparam, select

from app.audit.service import Actor
from app.auth import service
from app.auth.callers import CallerMemory
from app.auth.models import ApiKey
from app.core.errors import Forbidden, Unauthorized
from app.core.routing import get_db
from app.core.security import (
    API_KEY_PREFIX,
    Caller,
    Role,
    api_key_digest,
    read_access_token,
)

bearer = OAuth2PasswordBearer(
    tokenUrl="/v1/auth/token",
    auto_error=False,
    description="A user access token from `POST /v1/auth/token`, or an API key (`cpk_…`).",
)


async def current_caller(request: Request, token: str | None) -> Caller:
    """The caller a bearer token names; 401 when there is none or it is not (or no longer)
    valid. The request's database session is opened only when the caller is not remembered."""
    if not token:
        raise Unauthorized()
    caller: Caller | None
    memory: CallerMemory = request.app.state.callers
    if token.startswith(API_KEY_PREFIX):
        caller = await _caller_from_api_key(request, token, memory)
    else:
        caller = await _caller_from_access_token(
            request, token, request.app.state.secret_key, memory
        )
    if caller is None:
        raise Unauthorized("The bearer token is invalid, expired or revoked")
    request.state.caller = caller
    return caller


async def _caller_from_access_token(
    request: Request, token: str, secret_key: str, memory: CallerMemory
) -> Caller | None:
    """A well-signed, unexpired token of a user whose tokens have not been revoked since."""
    claims = read_access_token(token, secret_key)
    if claims is None or not await service.access_token_is_current(
        partial(get_db, request), claims.caller.actor_id, claims.generation, memory
    ):
        return None
    return claims.caller


_API_KEY_CALLER = select(
    ApiKey.id, ApiKey.role, ApiKey.therapist_id, ApiKey.referring_professional_id
).where(ApiKey.key_hash == bindparam("digest"), ApiKey.revoked_at.is_(None))


async def _caller_from_api_key(request: Request, key: str, memory: CallerMemory) -> Caller | None:
    """An API key that is not revoked; remembered while the worker hears of every change."""
    digest = api_key_digest(key)
    caller = memory.api_key(digest)
    if caller is not None:
        return caller
    epoch = memory.epoch
    db = await get_db(request)
    row = (await db.execute(_API_KEY_CALLER, {"digest": digest})).one_or_none()
    if row is None:
        return None
    caller = Caller(
        actor_type="api_key",
        actor_id=row.id,
        role=Role(row.role),
        therapist_id=row.therapist_id,
        referring_professional_id=row.referring_professional_id,
    )
    memory.remember_api_key(digest, caller, epoch)
    return caller


def allow(*roles: Role) -> Callable[..., Awaitable[Caller]]:
    """A dependency that lets the given roles through and answers 403 to the others."""
    allowed = frozenset(roles)

    # one dependency, not a chain of them: each level of FastAPI's dependency tree costs every
    # request its solving
    async def caller_with_role(
        request: Request, token: Annotated[str | None, Depends(bearer)]
    ) -> Caller:
        caller = await current_caller(request, token)
        if caller.role not in allowed:
            raise Forbidden(f"The {caller.role.value} role may not do this")
        return caller

    return caller_with_role


def actor(caller: Caller) -> Actor:
    return Actor(caller.actor_type, caller.actor_id, caller.role.value)


AdminCaller = Annotated[Caller, Depends(allow(Role.admin))]
StaffCaller = Annotated[Caller, Depends(allow(Role.admin, Role.therapist, Role.front_desk))]
ClinicalCaller = Annotated[Caller, Depends(allow(Role.admin, Role.therapist))]
