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
from pathlib import Path

import httpx
import pytest

from tests import factories
from tests.live import LIVE_BACKENDS, LiveApp, live_app, live_database_url

WRITERS = 16


@pytest.fixture(params=LIVE_BACKENDS)
async def live(
    request: pytest.FixtureRequest, database_url: str, backend: str, tmp_path: Path
) -> AsyncIterator[LiveApp]:
    url = live_database_url(request, database_url, backend, tmp_path, "concurrency")
    async with live_app(database_url, "concurrency", url=url) as app:
        yield app


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
