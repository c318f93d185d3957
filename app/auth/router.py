"""Access tokens, users and API keys."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response

from app.audit import service as audit
from app.audit.service import AuditAction
from app.auth import service
from app.auth.dependencies import AdminCaller, actor
from app.auth.schemas import (
    AccessToken,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    LoginForm,
    UserCreate,
    UserRead,
    UserUpdate,
)
from app.core.concurrency import ExpectedVersion
from app.core.context import current_client_ip
from app.core.errors import Unauthorized, problems
from app.core.pagination import Page, PageOf, page_of
from app.core.responses import no_content, render
from app.core.routing import DbSession, TransactionalRoute
from app.core.security import PasswordHashing, issue_access_token

router = APIRouter(prefix="/v1", route_class=TransactionalRoute)


def _hashing(request: Request) -> PasswordHashing:
    hashing: PasswordHashing = request.app.state.password_hashing
    return hashing


Hashing = Annotated[PasswordHashing, Depends(_hashing)]


@router.post(
    "/auth/token",
    response_model=AccessToken,
    tags=["auth"],
    summary="Log in (OAuth2 password flow): username is the email",
    description="Failed logins are throttled per account and address, per address, and per "
    "account (429 `rate-limited` with `Retry-After`).",
    responses=problems(429),
)
async def login(
    request: Request,
    db: DbSession,
    form: Annotated[LoginForm, Form()],
    hashing: Hashing,
) -> Response:
    settings = request.app.state.settings
    throttle: service.LoginThrottle = request.app.state.login_throttle
    address = current_client_ip()
    await throttle.check(db, form.username, address)
    user = await service.authenticate(db, form.username, form.password, hashing)
    if user is None:
        await throttle.failed(db, form.username, address)
        raise Unauthorized("Unknown email or wrong password")
    await throttle.succeeded(db, form.username, address)
    caller = service.caller_for_user(user)
    audit.record(db, actor(caller), AuditAction.login, "user", user.id)
    token = issue_access_token(
        caller,
        request.app.state.secret_key,
        settings.access_token_minutes,
        generation=user.token_generation,
    )
    body = AccessToken(access_token=token, expires_in=settings.access_token_minutes * 60)
    return render(body, None, headers={"Cache-Control": "no-store"})


@router.post(
    "/users", response_model=UserRead, status_code=201, tags=["users"], responses=problems(409)
)
async def create_user(
    data: UserCreate, db: DbSession, caller: AdminCaller, hashing: Hashing
) -> Response:
    user = await service.create_user(db, data, hashing)
    audit.record(db, actor(caller), AuditAction.create, "user", user.id)
    return render(
        UserRead.model_validate(user),
        caller,
        status_code=201,
        version=user.version,
        headers={"Location": f"/v1/users/{user.id}"},
    )


@router.get("/users", response_model=PageOf[UserRead], tags=["users"])
async def list_users(db: DbSession, caller: AdminCaller, page: Page) -> Response:
    users, cursor = page_of(await service.list_users(db, page), page)
    return render(
        PageOf[UserRead](items=[UserRead.model_validate(u) for u in users], next_cursor=cursor),
        caller,
    )


@router.get("/users/{user_id}", response_model=UserRead, tags=["users"])
async def get_user(user_id: uuid.UUID, db: DbSession, caller: AdminCaller) -> Response:
    user = await service.get_user(db, user_id)
    return render(UserRead.model_validate(user), caller, version=user.version)


@router.patch(
    "/users/{user_id}", response_model=UserRead, tags=["users"], responses=problems(412, 428)
)
async def update_user(
    user_id: uuid.UUID,
    patch: UserUpdate,
    db: DbSession,
    caller: AdminCaller,
    expected: ExpectedVersion,
    hashing: Hashing,
) -> Response:
    user = await service.update_user(
        db, await service.get_user(db, user_id), patch, expected, hashing
    )
    audit.record(db, actor(caller), AuditAction.update, "user", user.id)
    return render(UserRead.model_validate(user), caller, version=user.version)


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=201, tags=["api keys"])
async def create_api_key(data: ApiKeyCreate, db: DbSession, caller: AdminCaller) -> Response:
    record, key = await service.create_api_key(db, data, caller.actor_id)
    audit.record(db, actor(caller), AuditAction.create, "api_key", record.id)
    body = ApiKeyCreated.model_validate(
        {**ApiKeyRead.model_validate(record).model_dump(), "key": key}
    )
    return render(
        body,
        caller,
        status_code=201,
        version=record.version,
        headers={"Location": f"/v1/api-keys/{record.id}", "Cache-Control": "no-store"},
    )


@router.get("/api-keys", response_model=PageOf[ApiKeyRead], tags=["api keys"])
async def list_api_keys(db: DbSession, caller: AdminCaller, page: Page) -> Response:
    keys, cursor = page_of(await service.list_api_keys(db, page), page)
    return render(
        PageOf[ApiKeyRead](items=[ApiKeyRead.model_validate(k) for k in keys], next_cursor=cursor),
        caller,
    )


@router.get("/api-keys/{key_id}", response_model=ApiKeyRead, tags=["api keys"])
async def get_api_key(key_id: uuid.UUID, db: DbSession, caller: AdminCaller) -> Response:
    record = await service.get_api_key(db, key_id)
    return render(ApiKeyRead.model_validate(record), caller, version=record.version)


@router.delete(
    "/api-keys/{key_id}",
    status_code=204,
    tags=["api keys"],
    summary="Revoke an API key, with immediate effect",
)
async def revoke_api_key(key_id: uuid.UUID, db: DbSession, caller: AdminCaller) -> Response:
    await service.revoke_api_key(db, await service.get_api_key(db, key_id))
    audit.record(db, actor(caller), AuditAction.delete, "api_key", key_id)
    return no_content()
