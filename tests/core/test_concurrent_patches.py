"""Optimistic concurrency under real concurrency: simultaneous PATCHes with the same `If-Match`.

This runs on a database of its own with real, committed transactions, not inside the
rolled-back transaction of the other tests. On PostgreSQL the writers really race (all of them
read version 1) and the `UPDATE … WHERE version = 1` lets one through; on SQLite the write lock
(BEGIN IMMEDIATE) serialises them. Either way exactly one wins.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from app.auth import service as auth_service
from app.auth.schemas import ApiKeyCreate
from app.core.db import create_engine, make_sessionmaker
from app.core.security import Role
from app.main import create_app
from tests import factories
from tests.conftest import test_settings as settings_for
from tests.databases import migrate, recreate_database, variant_url

WRITERS = 16


@dataclass
class LiveApp:
    app: FastAPI
    engine: AsyncEngine
    admin: dict[str, str]


@pytest.fixture(params=["sqlite", "postgresql"])
async def live(
    request: pytest.FixtureRequest, database_url: str, backend: str, tmp_path: Path
) -> AsyncIterator[LiveApp]:
    """On SQLite (always) and on the suite's PostgreSQL server (when the suite runs there)."""
    if request.param == "sqlite":
        own_file = f"sqlite:///{tmp_path / 'concurrency.db'}"
        url = own_file if backend == "postgresql" else variant_url(database_url, "concurrency")
    elif backend == "postgresql":
        url = variant_url(database_url, "concurrency")
    else:
        pytest.skip("needs CAREPLAN_TEST_DATABASE_URL=postgresql://…")
    await recreate_database(url)
    await migrate(url)
    engine = create_engine(url, pool_size=WRITERS + 4)
    sessionmaker = make_sessionmaker(engine)
    try:
        async with sessionmaker() as session:
            _, key = await auth_service.create_api_key(
                session, ApiKeyCreate(name="concurrency admin", role=Role.admin), created_by=None
            )
            await session.commit()
        app = create_app(settings_for(url), sessionmaker=sessionmaker)
        yield LiveApp(app, engine, {"Authorization": f"Bearer {key}"})
    finally:
        await engine.dispose()


async def test_simultaneous_patches_with_one_if_match_let_exactly_one_through(
    live: LiveApp,
) -> None:
    transport = httpx.ASGITransport(app=live.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://careplan.test") as http:
        created = await http.post("/v1/therapists", json=factories.therapist(), headers=live.admin)
        assert created.status_code == 201, created.text
        url = f"/v1/therapists/{created.json()['id']}"
        # open the pool's connections first, so that the writers start together
        warm = await asyncio.gather(*(http.get(url, headers=live.admin) for _ in range(WRITERS)))
        assert {r.status_code for r in warm} == {200}

        async def patch(n: int) -> httpx.Response:
            return await http.patch(
                url,
                json={"phone": f"+1 555 01{n:02d}"},
                headers={**live.admin, "If-Match": '"1"'},
            )

        responses = await asyncio.gather(*(patch(n) for n in range(WRITERS)))
        statuses = Counter(r.status_code for r in responses)
        assert statuses == {200: 1, 412: WRITERS - 1}, [r.text for r in responses]
        for response in responses:
            if response.status_code == 412:
                assert response.json()["type"] == "/problems/precondition-failed"
        [winner] = [r for r in responses if r.status_code == 200]

        final = await http.get(url, headers=live.admin)
        assert final.json()["version"] == 2
        assert final.headers["etag"] == '"2"'
        assert final.json()["phone"] == winner.json()["phone"]
