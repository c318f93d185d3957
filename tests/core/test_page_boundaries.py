"""Page boundaries written out: the default page is 50, exactly `limit` rows end the walk, and
rows created at the same instant are ordered by id."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.clients.models import Client
from tests.conftest import Staff

SAME_INSTANT = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)


async def _clients(
    maker: async_sessionmaker[AsyncSession], n: int, at: dt.datetime | None = None
) -> list[str]:
    async with maker() as db:
        rows = [
            Client(
                id=uuid.uuid4(),
                given_name=f"Client{i:03d}",
                family_name="Paged",
                **({"created_at": at, "updated_at": at} if at else {}),
            )
            for i in range(n)
        ]
        db.add_all(rows)
        await db.commit()
        return [str(r.id) for r in rows]


async def test_the_default_page_is_fifty(
    client: httpx.AsyncClient, staff: Staff, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await _clients(sessionmaker, 51)
    page = (await client.get("/v1/clients", headers=staff.headers("admin"))).json()
    assert len(page["items"]) == 50
    assert page["next_cursor"] is not None


async def test_exactly_limit_rows_is_the_last_page_and_one_more_is_not(
    client: httpx.AsyncClient, staff: Staff, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await _clients(sessionmaker, 2)
    exact = (await client.get("/v1/clients?limit=2", headers=staff.headers("admin"))).json()
    assert len(exact["items"]) == 2
    assert exact["next_cursor"] is None
    await _clients(sessionmaker, 1)
    over = (await client.get("/v1/clients?limit=2", headers=staff.headers("admin"))).json()
    assert len(over["items"]) == 2
    assert over["next_cursor"] is not None


async def test_rows_of_one_instant_are_ordered_by_id_and_each_walked_once(
    client: httpx.AsyncClient, staff: Staff, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    ids = await _clients(sessionmaker, 5, at=SAME_INSTANT)
    walked: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        params: dict[str, str | int] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (
            await client.get("/v1/clients", params=params, headers=staff.headers("admin"))
        ).json()
        walked.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert walked == sorted(ids, key=uuid.UUID)
