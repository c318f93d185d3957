"""One transaction per request: the route class that commits before the response leaves."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import to_app_error


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
    failed commit can never follow a 2xx. Any failure rolls back and becomes a problem response."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run_in_transaction(request: Request) -> Response:
            try:
                response = await handler(request)
                session: AsyncSession | None = getattr(request.state, "db", None)
                if session is not None:
                    await session.commit()
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

        return run_in_transaction
