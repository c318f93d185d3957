"""The route classes: input checks every route shares, one transaction per request, and
`Idempotency-Key` on every POST."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Iterator
from email.message import Message
from functools import cached_property, lru_cache
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from fastapi import Depends, Request, Response, params
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_parameterless_sub_dependant
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession
from starlette._utils import get_route_path
from starlette.routing import Match
from starlette.types import Scope

from app.core import idempotency, statements
from app.core.db import read_only_transaction, utcnow
from app.core.errors import UnsupportedMediaType, ValidationFailed, to_app_error
from app.core.security import Caller

# The JSON API refuses query parameters it does not declare; the FHIR facade (`/fhir/R4`) has
# rules of its own for search parameters.
STRICT_QUERY_PREFIX = "/v1/"

SAFE_METHODS = frozenset({"GET", "HEAD"})

AfterCommit = Callable[[AsyncSession], Awaitable[None]]
"""`app.state.after_commit`: runs once the request's transaction committed and before its
response is sent (the audit trail's group commit of read events)."""


async def get_db(request: Request) -> AsyncSession:
    """The request's database session, opened on first use and committed by `TransactionalRoute`."""
    session: AsyncSession | None = getattr(request.state, "db", None)
    if session is None:
        session = request.app.state.sessionmaker()
        request.state.db = session
    return session


DbSession = Annotated[AsyncSession, Depends(get_db)]


@lru_cache(maxsize=256)
def is_json_media_type(content_type: str) -> bool:
    """`application/json` or any `application/*+json`, parameters (charset) aside."""
    message = Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


class CheckedInputRoute(APIRoute):
    """Checks what every route shares before anything else runs:

    - a JSON body sent with a `Content-Type` that is not JSON (or none) is 415
      `unsupported-media-type` (a body that does not parse stays a 422, from FastAPI);
    - under `/v1/`, a query parameter the route does not declare is 422, so a typo never
      silently widens a filter, and so is a single-valued parameter given more than once.
    """

    @cached_property
    def _literal_prefix(self) -> str:
        return self.path_format.split("{", 1)[0]

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        # the app has about a hundred routes, tried in order: a path that does not start with
        # the literal part of this route's path cannot match its pattern, so skip the pattern
        if scope["type"] == "http" and not get_route_path(scope).startswith(self._literal_prefix):
            return Match.NONE, {}
        return super().matches(scope)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        query_fields = list(_query_fields(self.dependant))
        declared = {field.alias for field in query_fields}
        repeatable = {
            field.alias for field in query_fields if _takes_many(field.field_info.annotation)
        }
        strict_query = self.path_format.startswith(STRICT_QUERY_PREFIX)
        takes_json = self.body_field is not None and not isinstance(
            self.body_field.field_info, params.Form
        )

        async def check_input(request: Request) -> Response:
            if takes_json:
                content_type = request.headers.get("content-type")
                if not (content_type and is_json_media_type(content_type)) and (
                    await request.body()
                ):
                    raise UnsupportedMediaType(
                        "This route takes a JSON body: send it with Content-Type: application/json"
                    )
            if strict_query and request.scope["query_string"]:
                _check_query(request, declared, repeatable)
            return await handler(request)

        return check_input


async def claim_idempotency_key(request: Request) -> None:
    """The dependency every POST route runs last, once its other dependencies have named the
    caller. Requests without a caller (a login) are not keyed."""
    idempotency_key = idempotency.key_of(request.headers)
    caller: Caller | None = getattr(request.state, "caller", None)
    if idempotency_key is None or caller is None:
        return
    digest = idempotency.request_hash(
        request.method, request.url.path, request.url.query, await request.body()
    )
    db = await get_db(request)
    record_id = await idempotency.claim_key(
        db, idempotency.actor_of(caller), idempotency_key, digest, utcnow()
    )
    # The claim commits before the work starts (the transaction so far held only the reads of
    # the dependencies): from now on a concurrent repeat sees it and gets 409. The work runs in
    # a new transaction on the same connection; a failure releases the claim.
    await db.commit()
    request.state.idempotency = idempotency.Claim(record_id)


class TransactionalRoute(CheckedInputRoute):
    """Runs the handler, then commits the request's session before the response is sent, so a
    failed commit can never follow a 2xx. Any failure rolls back and becomes a problem response.
    A request that changes nothing (GET, HEAD) runs in a read-only transaction.

    POST routes also claim their `Idempotency-Key` (a dependency appended after the route's own,
    so the caller is known) and store the response with the work, in the same commit."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        if "POST" in (self.methods or ()) and not any(
            d.call is claim_idempotency_key for d in self.dependant.dependencies
        ):
            self.dependant.dependencies.append(
                get_parameterless_sub_dependant(
                    depends=Depends(claim_idempotency_key), path=self.path_format
                )
            )
            extra = self.openapi_extra or {}
            documented = extra.get("parameters", [])
            if idempotency.OPENAPI_PARAMETER not in documented:
                self.openapi_extra = {
                    **extra,
                    "parameters": [*documented, idempotency.OPENAPI_PARAMETER],
                }
        handler = super().get_route_handler()

        async def run_in_transaction(request: Request) -> Response:
            read_only = read_only_transaction.set(request.method in SAFE_METHODS)
            try:
                try:
                    response = await handler(request)
                except idempotency.IdempotentReplay as replay:
                    return replay.response
                claim: idempotency.Claim | None = getattr(request.state, "idempotency", None)
                if claim is not None and idempotency.replayable(response):
                    await idempotency.store_response(await get_db(request), claim, response)
                session: AsyncSession | None = getattr(request.state, "db", None)
                if session is not None:
                    if statements.has_work_to_commit(session):
                        await session.commit()
                    else:
                        # nothing to end: give the connection back before waiting for the
                        # audit writer, which needs one from the same pool
                        await session.close()
                    after_commit: AfterCommit | None = getattr(
                        request.app.state, "after_commit", None
                    )
                    if after_commit is not None:
                        await after_commit(session)
                if claim is not None and idempotency.replayable(response):
                    claim.finished = True
                return response
            except Exception as exc:
                error = to_app_error(exc)
                if error is exc:
                    raise
                # logged once, by the error handler: the cause chain keeps the traceback
                raise error from exc
            finally:
                read_only_transaction.reset(read_only)
                session = getattr(request.state, "db", None)
                if session is not None:
                    request.state.db = None
                    await session.close()
                claim = getattr(request.state, "idempotency", None)
                if claim is not None:
                    request.state.idempotency = None
                    await idempotency.release(request.app.state.sessionmaker, claim)

        return run_in_transaction


def _query_fields(dependant: Dependant) -> Iterator[Any]:
    """The query parameters of a route and of all its dependencies."""
    yield from dependant.query_params
    for sub in dependant.dependencies:
        yield from _query_fields(sub)


def _takes_many(annotation: Any) -> bool:
    """Whether a query parameter's type is a list (`?tag=a&tag=b`), through `Optional`."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _takes_many(get_args(annotation)[0])
    if origin in (Union, UnionType):
        return any(_takes_many(arg) for arg in get_args(annotation))
    return isinstance(origin, type) and issubclass(origin, list | tuple | set | frozenset)


def _check_query(request: Request, declared: set[str], repeatable: set[str]) -> None:
    errors: list[dict[str, Any]] = []
    takes = ", ".join(sorted(declared)) or "none"
    for name in dict.fromkeys(request.query_params.keys()):
        if name not in declared:
            errors.append(
                {
                    "loc": ["query", name],
                    "msg": f"unknown query parameter; this route takes: {takes}",
                }
            )
        elif name not in repeatable and len(request.query_params.getlist(name)) > 1:
            errors.append({"loc": ["query", name], "msg": "given more than once"})
    if errors:
        raise ValidationFailed("The request is not valid", errors)
