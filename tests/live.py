"""A running app on a database of its own, with real commits and a pool of real connections,
for tests of concurrent requests (the rolled-back test transaction cannot host those)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from fastapi import FastAPI

from app.auth import service as auth_service
from app.auth.schemas import ApiKeyCreate
from app.core.security import Role
from app.main import create_app
from tests.conftest import test_settings
from tests.databases import migrate, recreate_database, variant_url


@dataclass
class LiveApp:
    app: FastAPI
    http: httpx.AsyncClient
    admin: dict[str, str]


@asynccontextmanager
async def live_app(database_url: str, name: str) -> AsyncIterator[LiveApp]:
    url = variant_url(database_url, name)
    await recreate_database(url)
    await migrate(url)
    app = create_app(test_settings(url))
    async with app.router.lifespan_context(app):
        async with app.state.sessionmaker() as db:
            _, key = await auth_service.create_api_key(
                db, ApiKeyCreate(name="live admin", role=Role.admin), None
            )
            await db.commit()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://live.test") as http:
            yield LiveApp(app, http, {"Authorization": f"Bearer {key}"})
