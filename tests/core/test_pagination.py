"""Keyset pagination of lists: bounds, cursors, stable order, `updated_since`, archived rows."""

from __future__ import annotations

import base64
import datetime as dt
import inspect
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from app.clients import service as clients_service
from app.clients.models import Client
from app.core.pagination import (
    PageParams,
    decode_cursor,
    encode_cursor,
    page_of,
    page_shape,
    page_values,
)
from app.directory.models import Therapist
from tests import factories
from tests.conftest import Staff
from tests.core.problems import assert_problem, error_locs

COLLECTIONS = ["clients", "therapists"]


def _body(collection: str, n: int) -> dict[str, Any]:
    if collection == "clients":
        return factories.client(given_name=f"Client{n:03d}")
    return factories.therapist(full_name=f"Therapist {n:03d}")


async def _add(client: httpx.AsyncClient, staff: Staff, collection: str, n: int) -> str:
    response = await client.post(
        f"/v1/{collection}", json=_body(collection, n), headers=staff.headers("admin")
    )
    assert response.status_code == 201, response.text
    row_id: str = response.json()["id"]
    return row_id


def _key(item: dict[str, Any]) -> tuple[dt.datetime, uuid.UUID]:
    return dt.datetime.fromisoformat(item["created_at"]), uuid.UUID(item["id"])


async def _walk(
    client: httpx.AsyncClient, staff: Staff, url: str, **params: Any
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = await client.get(url, params=query, headers=staff.headers("admin"))
        assert page.status_code == 200, page.text
        items.extend(page.json()["items"])
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the cursor walk does not end")


@pytest.mark.parametrize("collection", COLLECTIONS)
@pytest.mark.parametrize("limit", ["0", "201", "-1", "abc"])
async def test_limit_out_of_bounds_is_422(
    client: httpx.AsyncClient, staff: Staff, collection: str, limit: str
) -> None:
    response = await client.get(
        f"/v1/{collection}", params={"limit": limit}, headers=staff.headers("admin")
    )
    assert error_locs(assert_problem(response, 422, "validation-error")) == [["query", "limit"]]


@pytest.mark.parametrize("collection", COLLECTIONS)
async def test_limit_bounds_are_accepted(
    client: httpx.AsyncClient, staff: Staff, collection: str
) -> None:
    for n in range(3):
        await _add(client, staff, collection, n)
    one = await client.get(f"/v1/{collection}?limit=1", headers=staff.headers("admin"))
    assert len(one.json()["items"]) == 1
    assert one.json()["next_cursor"] is not None
    most = await client.get(f"/v1/{collection}?limit=200", headers=staff.headers("admin"))
    assert most.status_code == 200
    assert most.json()["next_cursor"] is None


@pytest.mark.parametrize("model", [Client, Therapist])
async def test_default_limit_is_50(
    client: httpx.AsyncClient, staff: Staff, db: AsyncSession, model: type[Any]
) -> None:
    fields = (
        {"given_name": "Bulk", "family_name": "Row"}
        if model is Client
        else {"full_name": "Bulk Row"}
    )
    db.add_all([model(**fields) for _ in range(51)])
    await db.commit()
    path = "clients" if model is Client else "therapists"
    response = await client.get(f"/v1/{path}", headers=staff.headers("admin"))
    assert response.status_code == 200
    assert len(response.json()["items"]) == 50
    assert response.json()["next_cursor"] is not None


@pytest.mark.parametrize("collection", COLLECTIONS)
async def test_cursor_walk_sees_every_row_once_while_rows_are_added(
    client: httpx.AsyncClient, staff: Staff, collection: str
) -> None:
    url = f"/v1/{collection}"
    before = {item["id"] for item in await _walk(client, staff, url)}
    for n in range(8):
        before.add(await _add(client, staff, collection, n))

    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    added = 0
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(url, params=params, headers=staff.headers("admin"))).json()
        assert len(page["items"]) <= 3
        seen.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        await _add(client, staff, collection, 100 + added)  # a row arrives mid-walk
        added += 1

    ids = [item["id"] for item in seen]
    assert len(ids) == len(set(ids)), "a row came twice"
    assert before <= set(ids), "a row that existed when the walk began was skipped"
    keys = [_key(item) for item in seen]
    assert keys == sorted(keys), "not in (created_at, id) order"


@pytest.mark.parametrize("model", [Client, Therapist])
async def test_rows_with_equal_created_at_are_ordered_by_id(
    client: httpx.AsyncClient, staff: Staff, db: AsyncSession, model: type[Any]
) -> None:
    moment = dt.datetime(2031, 5, 6, 7, 8, 9, tzinfo=dt.UTC)  # after every other row
    fields = (
        {"given_name": "Same", "family_name": "Moment"}
        if model is Client
        else {"full_name": "Same Moment"}
    )
    rows = [model(id=uuid.uuid4(), created_at=moment, **fields) for _ in range(7)]
    db.add_all(rows)
    await db.commit()
    path = "clients" if model is Client else "therapists"
    walked = await _walk(client, staff, f"/v1/{path}", limit=2)
    tail = [item["id"] for item in walked if _key(item)[0] == moment]
    assert tail == [str(i) for i in sorted(row.id for row in rows)]


@pytest.mark.parametrize("collection", COLLECTIONS)
@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "bm90IGpzb24",  # "not json"
        base64.urlsafe_b64encode(orjson.dumps({"a": 1})).decode(),
        base64.urlsafe_b64encode(orjson.dumps(["2026-01-01T00:00:00", str(uuid.uuid4())])).decode(),
        base64.urlsafe_b64encode(orjson.dumps(["2026-01-01T00:00:00Z", "not-a-uuid"])).decode(),
        base64.urlsafe_b64encode(orjson.dumps([1, 2])).decode(),
        "x" * 201,
    ],
)
async def test_invalid_cursor_is_422(
    client: httpx.AsyncClient, staff: Staff, collection: str, cursor: str
) -> None:
    response = await client.get(
        f"/v1/{collection}", params={"cursor": cursor}, headers=staff.headers("admin")
    )
    assert error_locs(assert_problem(response, 422, "validation-error")) == [["query", "cursor"]]


@pytest.mark.parametrize("collection", COLLECTIONS)
async def test_updated_since_lists_rows_changed_since(
    client: httpx.AsyncClient, staff: Staff, collection: str
) -> None:
    ids = [await _add(client, staff, collection, n) for n in range(3)]
    changed = await client.patch(
        f"/v1/{collection}/{ids[0]}",
        json={"phone": "+1 555 0177"},
        headers={**staff.headers("admin"), "If-Match": '"1"'},
    )
    assert changed.status_code == 200
    since = changed.json()["updated_at"]
    listed = await client.get(
        f"/v1/{collection}", params={"updated_since": since}, headers=staff.headers("admin")
    )
    assert [item["id"] for item in listed.json()["items"]] == [ids[0]]
    everything = await client.get(
        f"/v1/{collection}",
        params={"updated_since": "2000-01-01T00:00:00+00:00"},
        headers=staff.headers("admin"),
    )
    assert set(ids) <= {item["id"] for item in everything.json()["items"]}


@pytest.mark.parametrize("collection", COLLECTIONS)
@pytest.mark.parametrize("value", ["2026-01-01T00:00:00", "yesterday"])
async def test_updated_since_needs_a_zoned_timestamp(
    client: httpx.AsyncClient, staff: Staff, collection: str, value: str
) -> None:
    response = await client.get(
        f"/v1/{collection}", params={"updated_since": value}, headers=staff.headers("admin")
    )
    locs = error_locs(assert_problem(response, 422, "validation-error"))
    assert locs == [["query", "updated_since"]]


@pytest.mark.parametrize("collection", COLLECTIONS)
async def test_archived_rows_leave_lists_unless_asked_for(
    client: httpx.AsyncClient, staff: Staff, collection: str
) -> None:
    kept, archived = [await _add(client, staff, collection, n) for n in range(2)]
    gone = await client.delete(f"/v1/{collection}/{archived}", headers=staff.headers("admin"))
    assert gone.status_code == 204
    default = {item["id"] for item in await _walk(client, staff, f"/v1/{collection}")}
    assert kept in default
    assert archived not in default
    every = await _walk(client, staff, f"/v1/{collection}", include_archived="true")
    by_id = {item["id"]: item for item in every}
    assert by_id[archived]["archived_at"] is not None
    assert by_id[kept]["archived_at"] is None


def test_page_of_takes_the_cursor_from_objects_and_from_dicts_alike() -> None:
    """`page_of` cuts ORM rows and the dict rows of `app.core.statements` the same way, the
    cursor naming the last row of the page."""
    at = dt.datetime(2024, 5, 1, 9, 30, tzinfo=dt.UTC)
    ids = [uuid.uuid4() for _ in range(3)]
    dicts = [{"id": i, "created_at": at + dt.timedelta(minutes=n)} for n, i in enumerate(ids)]
    objects = [Client(id=row["id"], created_at=row["created_at"]) for row in dicts]
    page = PageParams(limit=2, after=None, updated_since=None)
    for rows in (dicts, objects):
        items, cursor = page_of(rows, page)
        assert items == rows[:2]
        assert cursor == encode_cursor(at + dt.timedelta(minutes=1), ids[1])
        assert decode_cursor(cursor) == (at + dt.timedelta(minutes=1), ids[1])
        assert page_of(rows, PageParams(limit=3, after=None, updated_since=None)) == (rows, None)
    events = [{"id": i, "at": at} for i in ids]
    assert page_of(events, page, at="at") == (events[:2], encode_cursor(at, ids[1]))


def test_the_hot_routes_resolve_their_dependencies_on_the_event_loop(app: FastAPI) -> None:
    """FastAPI runs a plain `def` dependency in a worker thread: a thread hop per request."""

    def sync_calls(dependant: Dependant) -> Iterator[str]:
        for sub in dependant.dependencies:
            call = sub.call
            coroutine = inspect.iscoroutinefunction
            if call is not None and not coroutine(call) and not coroutine(type(call).__call__):
                yield getattr(call, "__qualname__", repr(call))
            yield from sync_calls(sub)

    hot = {("GET", "/v1/clients"), ("GET", "/v1/clients/{client_id}"), ("POST", "/v1/clients")}
    routes = [
        route
        for route in app.routes
        if isinstance(route, APIRoute) and any((m, route.path) in hot for m in route.methods or ())
    ]
    assert len(routes) == 3
    assert [name for route in routes for name in sync_calls(route.dependant)] == []


def test_page_shape_and_values_split_a_page_into_its_statement_and_its_values() -> None:
    at = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)
    row_id = uuid.uuid4()
    first = PageParams(limit=50, after=None, updated_since=None)
    later = PageParams(limit=10, after=(at, row_id), updated_since=at)
    assert page_values(first) == {"page_size": 51}
    assert page_values(later) == {
        "page_size": 11,
        "after_at": at,
        "after_id": row_id,
        "updated_since": at,
    }
    assert page_shape(first) == page_shape(PageParams(limit=7, after=None, updated_since=None))
    assert page_shape(later) == page_shape(
        PageParams(limit=200, after=(at + dt.timedelta(days=1), uuid.uuid4()), updated_since=at)
    )
    assert page_shape(first) != page_shape(later)


async def test_a_list_statement_built_once_runs_each_request_with_its_own_values(
    client: httpx.AsyncClient, staff: Staff
) -> None:
    """The clients' list builds its statement once per shape: values never carry over."""
    for name in ("Alma Ode", "Brun Ode", "Cleo Vint"):
        given, family = name.split()
        body = factories.client(given_name=given, family_name=family)
        await client.post("/v1/clients", json=body, headers=staff.headers("admin"))

    async def names(**params: Any) -> list[str]:
        page = await client.get("/v1/clients", params=params, headers=staff.headers("admin"))
        assert page.status_code == 200, page.text
        return [item["given_name"] for item in page.json()["items"]]

    built = clients_service._clients_page.cache_info().currsize
    assert await names(q="ode") == ["Alma", "Brun"]
    assert await names(q="vint") == ["Cleo"]
    assert await names(q="alma ode") == ["Alma"]
    assert await names(q="brun ode") == ["Brun"]
    one = await client.get("/v1/clients?limit=1", headers=staff.headers("admin"))
    cursor = one.json()["next_cursor"]
    assert await names(limit=1, cursor=cursor) == ["Brun"]
    second = await client.get(
        f"/v1/clients?limit=1&cursor={cursor}", headers=staff.headers("admin")
    )
    assert await names(limit=1, cursor=second.json()["next_cursor"]) == ["Cleo"]
    assert clients_service._clients_page.cache_info().currsize <= built + 4
