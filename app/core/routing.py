"""One transaction per request: the route class that commits before the response leaves, and
honours `Idempotency-Key` on every POST."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.dependencies.utils import get_parameterless_sub_dependant
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import idempotency
from app.core.db import utcnow
from app.core.errors import to_app_error
from app.core.security import Caller


async def get_db(request: Request) -> AsyncSession:
    """The request's database session, opened on first use and committed by `TransactionalRoute`."""
    session: AsyncSession | None = getattr(request.state, "db", None)
    if session is None:
        session = request.app.state.sessionmaker()
        request.state.db = session
    return session


DbSession = Annotated[AsyncSession, Depends(get_db)]


async def claim_idempotency_key(
    request: Request, idempotency_key: idempotency.IdempotencyKeyHeader = None
) -> None:
    """The dependency every POST route runs last, once its other dependencies have named the
    caller. Requests without a caller (a login) are not keyed."""
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


class TransactionalRoute(APIRoute):
    """Runs the handler, then commits the request's session before the response is sent, so a
    failed commit can never follow a 2xx. Any failure rolls back and becomes a problem response.

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
        handler = super().get_route_handler()

        async def run_in_transaction(request: Request) -> Response:
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
                    await session.commit()
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
                session = getattr(request.state, "db", None)
                if session is not None:
                    request.state.db = None
                    await session.close()
                claim = getattr(request.state, "idempotency", None)
                if claim is not None:
                    request.state.idempotency = None
                    await idempotency.release(request.app.state.sessionmaker, claim)

        return run_in_transaction
