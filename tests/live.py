"""A running app on a database of its own, with real commits and a pool of real connections,
for tests of concurrent requests (the rolled-back test transaction cannot host those)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.auth import service as auth_service
from app.auth.schemas import ApiKeyCreate
from app.core.security import Role
from app.main import create_app
from tests.conftest import test_settings
from tests.databases import migrate, recreate_database, variant_url

LIVE_BACKENDS = ["sqlite", "postgresql"]
"""For `pytest.fixture(params=…)`: with `live_database_url`, SQLite always, PostgreSQL when the
suite runs there."""


@dataclass
class LiveApp:
    app: FastAPI
    http: httpx.AsyncClient
    admin: dict[str, str]

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        maker: async_sessionmaker[AsyncSession] = self.app.state.sessionmaker
        return maker

    @property
    def engine(self) -> AsyncEngine:
        bind: AsyncEngine = self.sessionmaker.kw["bind"]
        return bind


def live_database_url(
    request: pytest.FixtureRequest, database_url: str, backend: str, tmp_path: Path, name: str
) -> str:
    """The database of the backend `request.param` (one of LIVE_BACKENDS): a file of its own on
    SQLite, a database beside the suite's on PostgreSQL (skipped when the suite runs on SQLite)."""
    if request.param == "sqlite":
        own_file = f"sqlite:///{tmp_path / f'{name}.db'}"
        return own_file if backend == "postgresql" else variant_url(database_url, name)
    if backend != "postgresql":
        pytest.skip("needs CAREPLAN_TEST_DATABASE_URL=postgresql://…")
    return variant_url(database_url, name)


@asynccontextmanager
async def serving(url: str) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app on the database of `url` as a worker process runs it (its lifespan started), and
    a client that talks to it."""
    app = create_app(test_settings(url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://live.test") as http:
            yield app, http


@asynccontextmanager
async def live_app(
    database_url: str, name: str, *, url: str | None = None
) -> AsyncIterator[LiveApp]:
    """The app on a fresh database: `url`, or the suite's database's variant `name`."""
    url = url or variant_url(database_url, name)
    await recreate_database(url)
    await migrate(url)
    async with serving(url) as (app, http):
        async with app.state.sessionmaker() as db:
            _, key = await auth_service.create_api_key(
                db, ApiKeyCreate(name="live admin", role=Role.admin), None
            )
            await db.commit()
        yield LiveApp(app, http, {"Authorization": f"Bearer {key}"})
