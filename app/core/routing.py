"""One transaction per request: the route class that commits before the response leaves."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import read_only_transaction
from app.core.errors import to_app_error

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


class TransactionalRoute(APIRoute):
    """Runs the handler, then commits the request's session before the response is sent, so a
    failed commit can never follow a 2xx. Any failure rolls back and becomes a problem response.
    A request that changes nothing (GET, HEAD) runs in a read-only transaction."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run_in_transaction(request: Request) -> Response:
            read_only = read_only_transaction.set(request.method in SAFE_METHODS)
            try:
                response = await handler(request)
                session: AsyncSession | None = getattr(request.state, "db", None)
                if session is not None:
                    await session.commit()
                    after_commit: AfterCommit | None = getattr(
                        request.app.state, "after_commit", None
                    )
                    if after_commit is not None:
                        await after_commit(session)
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

        return run_in_transaction
