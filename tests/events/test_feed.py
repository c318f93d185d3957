"""The events feed: paging by cursor, type filters, bad and expired cursors, retention."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.db import utcnow
from app.events import service
from app.events.models import Event
from tests.conftest import Staff
from tests.referrals.factories import new_client


def cursor(seq: int, read_at: dt.datetime) -> str:
    raw = json.dumps(["e1", seq, int(read_at.timestamp())]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def test_walk_the_feed_page_by_page(client: httpx.AsyncClient, staff: Staff) -> None:
    admin = staff.headers("admin")
    ids = [await new_client(client, admin, given_name=f"Client {i}") for i in range(5)]
    seen: list[str] = []
    after = None
    for _ in range(10):
        params = {"limit": "2", **({"after": after} if after else {})}
        page = (await client.get("/v1/events", params=params, headers=admin)).json()
        assert len(page["items"]) <= 2
        assert page["next_cursor"]
        seen += [e["resource_id"] for e in page["items"]]
        after = page["next_cursor"]
        if not page["items"]:
            break
    assert seen == ids
    # a poller keeps its place: nothing new, then one more change
    await new_client(client, admin, given_name="Late")
    page = (await client.get("/v1/events", params={"after": after}, headers=admin)).json()
    assert [e["data"]["given_name"] for e in page["items"]] == ["Late"]


async def test_types_filter(client: httpx.AsyncClient, staff: Staff) -> None:
    admin = staff.headers("admin")
    client_id = await new_client(client, admin)
    await client.patch(
        f"/v1/clients/{client_id}", json={"notes": "n"}, headers={**admin, "If-Match": '"1"'}
    )
    page = await client.get("/v1/events?types=client.updated", headers=admin)
    assert [e["type"] for e in page.json()["items"]] == ["client.updated"]
    both = await client.get("/v1/events?types=client.updated,client.created", headers=admin)
    assert [e["type"] for e in both.json()["items"]] == ["client.created", "client.updated"]
    bad = await client.get("/v1/events?types=client.deleted", headers=admin)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["loc"] == ["query", "types"]


async def test_malformed_cursor_is_422(client: httpx.AsyncClient, staff: Staff) -> None:
    admin = staff.headers("admin")
    for bad in ("nonsense", base64.urlsafe_b64encode(b'["e1", -1, 0]').decode(), "e30"):
        response = await client.get("/v1/events", params={"after": bad}, headers=admin)
        assert response.status_code == 422, (bad, response.text)
        assert response.headers["content-type"] == "application/problem+json"


async def test_cursor_older_than_retention_is_410(client: httpx.AsyncClient, staff: Staff) -> None:
    admin = staff.headers("admin")
    now = utcnow()
    old = await client.get(
        "/v1/events",
        params={"after": cursor(0, now - dt.timedelta(days=90, minutes=1))},
        headers=admin,
    )
    assert old.status_code == 410
    assert old.json()["type"] == "/problems/cursor-expired"
    recent = await client.get(
        "/v1/events",
        params={"after": cursor(0, now - dt.timedelta(days=89, hours=23, minutes=59))},
        headers=admin,
    )
    assert recent.status_code == 200


async def test_only_admins_read_the_feed(client: httpx.AsyncClient, staff: Staff) -> None:
    for role in ("therapist", "front_desk", "referrer"):
        response = await client.get("/v1/events", headers=staff.headers(role))
        assert response.status_code == 403


async def test_purge_deletes_events_past_retention(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    now = utcnow()
    async with sessionmaker() as db:
        for age_days in (91, 90.5, 89):
            db.add(
                Event(
                    type="client.updated",
                    occurred_at=now - dt.timedelta(days=age_days),
                    resource_type="client",
                    resource_id=uuid.uuid4(),
                    data={},
                )
            )
        await db.commit()
        assert await service.purge_events(db, 90, now) == 2
        await db.commit()
        ages = (await db.scalars(select(Event.occurred_at))).all()
        assert len(ages) == 1
        assert now - ages[0] < dt.timedelta(days=90)
        assert await db.scalar(select(func.count()).select_from(Event)) == 1
