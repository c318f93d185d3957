"""Cross-cutting rules, checked on every route the app serves rather than on a list of them.

The routes come from `app.routes`; each path names a resource type, and `FACTORIES` says how to
make a valid instance of that type over the API. A route whose type has no factory fails
(`test_every_route_has_a_factory`), so a new resource cannot slip past these tests:

- every `PATCH`: no `If-Match` is 428, a stale one 412 and changes nothing, the current one 200
  with the version one higher;
- every list (`{"items", "next_cursor"}`): archived rows are left out unless
  `include_archived=true`, and a cursor walk with `limit=1` returns every row once, in order;
- every `GET` of a client's data writes a `read` (or `export`) audit event naming the client;
- every `POST`: a body of exactly 1 MiB passes the size check, one byte more is 413, with and
  without `Content-Length`.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.care_plans.models import Goal
from app.core.config import Settings
from app.core.security import Role
from app.events import service as events_service
from app.main import create_app
from tests import factories
from tests.care_plans import factories as plan_factories
from tests.conftest import Staff
from tests.core.problems import assert_problem
from tests.referrals import factories as referral_factories

ONE_MIB = 1_048_576  # written out: the contract's "1 MiB", not the code's constant


# --- the routes -------------------------------------------------------------------------------


def _routes() -> list[APIRoute]:
    settings = Settings(
        DATABASE_URL="sqlite+aiosqlite:///:memory:",
        CAREPLAN_ENV="test",
        CAREPLAN_SECRET_KEY="test-secret-key-for-the-careplan-suite-0123456789",
    )
    app: FastAPI = create_app(settings)
    return [route for route in app.routes if isinstance(route, APIRoute)]


ROUTES = _routes()


def _methods(route: APIRoute) -> set[str]:
    return set(route.methods or ()) - {"HEAD", "OPTIONS"}


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s and s not in ("v1", "fhir", "R4")]


def item_type(path: str) -> str | None:
    """The resource a path addresses: the collection before its last parameter."""
    parts = _segments(path)
    for i in range(len(parts) - 1, 0, -1):
        if parts[i].startswith("{"):
            return parts[i - 1]
    return None


def last_type(path: str) -> str:
    """The path's last plain segment: a list's collection, or an action on an item ("" for
    the root)."""
    return ([""] + [s for s in _segments(path) if not s.startswith("{")])[-1]


def is_list(route: APIRoute) -> bool:
    model = route.response_model
    return (
        isinstance(model, type)
        and issubclass(model, BaseModel)
        and {"items", "next_cursor"} <= set(model.model_fields)
    )


def takes_query(route: APIRoute, name: str) -> bool:
    pending, names = [route.dependant], set()
    while pending:
        dependant = pending.pop()
        names |= {param.alias for param in dependant.query_params}
        pending.extend(dependant.dependencies)
    return name in names


def route_id(route: APIRoute, method: str) -> str:
    return f"{method} {route.path}"


def routes_with(method: str, keep: Callable[[APIRoute], bool] = lambda r: True) -> list[Any]:
    return [
        pytest.param(route, id=route_id(route, method))
        for route in ROUTES
        if method in _methods(route) and keep(route)
    ]


# --- how to make each resource ----------------------------------------------------------------


@dataclass
class World:
    """Instances made over the API as admin; `one()` keeps the first of each type, so children
    made later hang off the same client, plan and session."""

    http: httpx.AsyncClient
    staff: Staff
    maker: async_sessionmaker[AsyncSession]
    ones: dict[str, dict[str, Any]] = field(default_factory=dict)
    counter: int = 0

    @property
    def admin(self) -> dict[str, str]:
        return self.staff.headers("admin")

    async def one(self, kind: str) -> dict[str, Any]:
        if kind not in self.ones:
            self.ones[kind] = await self.new(kind)
        return self.ones[kind]

    async def new(self, kind: str) -> dict[str, Any]:
        assert kind in FACTORIES, f"no factory for resource type {kind!r}: add one to FACTORIES"
        self.counter += 1
        return await FACTORIES[kind].make(self, self.counter)

    async def post(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.post(url, json=body, headers=self.admin)
        assert response.status_code == 201, (url, response.text)
        made: dict[str, Any] = response.json()
        return made

    async def client_of(self, kind: str) -> str | None:
        """The client whose data an instance of `kind` is, or None for non-clinical types."""
        spec = FACTORIES[kind]
        if not spec.client_data:
            return None
        return str((await self.one("clients"))["id"])


async def _therapist(w: World, n: int) -> dict[str, Any]:
    return await w.post(
        "/v1/therapists",
        factories.therapist(full_name=f"Therapist {n:03d}", email=f"t{n}@clinic.example"),
    )


async def _referring_professional(w: World, n: int) -> dict[str, Any]:
    return await w.post(
        "/v1/referring-professionals",
        factories.referring_professional(full_name=f"Dr. Referrer {n:03d}"),
    )


async def _client(w: World, n: int) -> dict[str, Any]:
    return await w.post("/v1/clients", factories.client(given_name=f"Client{n:03d}"))


async def _precaution(w: World, n: int) -> dict[str, Any]:
    cid = (await w.one("clients"))["id"]
    return await w.post(
        f"/v1/clients/{cid}/precautions", factories.precaution(description=f"Precaution {n}")
    )


async def _consent(w: World, n: int) -> dict[str, Any]:
    cid = (await w.one("clients"))["id"]
    return await w.post(
        f"/v1/clients/{cid}/consents",
        {
            "kind": "share_with_referrer",
            "referring_professional_id": str(w.staff.referring_professional_id),
            "granted_on": "2026-01-05",
        },
    )


async def _referral(w: World, n: int) -> dict[str, Any]:
    cid = (await w.one("clients"))["id"]
    return await w.post(
        "/v1/referrals",
        referral_factories.referral(
            cid, str(w.staff.referring_professional_id), reason=f"Referral {n}"
        ),
    )


async def _care_plan(w: World, n: int) -> dict[str, Any]:
    cid = (await w.one("clients"))["id"]
    therapist = await w.one("therapists")
    return await w.post(
        "/v1/care-plans",
        plan_factories.care_plan(cid, title=f"Plan {n}", primary_therapist_id=therapist["id"]),
    )


async def _goal(w: World, n: int) -> dict[str, Any]:
    plan = await w.one("care-plans")
    return await w.post(
        f"/v1/care-plans/{plan['id']}/goals", plan_factories.goal(description=f"Goal {n}")
    )


async def _session(w: World, n: int) -> dict[str, Any]:
    cid = (await w.one("clients"))["id"]
    plan = await w.one("care-plans")
    goal = await w.one("goals")
    therapist = await w.one("therapists")
    start = dt.datetime(2029, 1, 1, 9, tzinfo=dt.UTC) + dt.timedelta(days=n)
    return await w.post(
        "/v1/sessions",
        {
            "client_id": cid,
            "care_plan_id": plan["id"],
            "therapist_id": therapist["id"],
            "scheduled_start": start.isoformat().replace("+00:00", "Z"),
            "duration_minutes": 60,
            "session_type": "therapeutic",
            "body_regions": ["lower_back"],
            "measurements": [
                {"goal_id": goal["id"], "measure": "nprs", "value": 5, "timing": "pre"}
            ],
        },
    )


async def _measurement(w: World, n: int) -> dict[str, Any]:
    session = await w.one("sessions")
    measurement: dict[str, Any] = session["measurements"][0]
    return measurement


async def _user(w: World, n: int) -> dict[str, Any]:
    return await w.post(
        "/v1/users",
        {
            "email": f"user{n}@clinic.example",
            "password": "a long enough password",
            "display_name": f"User {n}",
            "role": "front_desk",
        },
    )


async def _api_key(w: World, n: int) -> dict[str, Any]:
    return await w.post("/v1/api-keys", {"name": f"Key {n}", "role": "front_desk"})


async def _audit_event(w: World, n: int) -> dict[str, Any]:
    rid = f"factory-{uuid.uuid4().hex}"
    response = await w.http.post(
        "/v1/clients",
        json=factories.client(given_name=f"Audited{n:03d}"),
        headers={**w.admin, "X-Request-ID": rid},
    )
    assert response.status_code == 201, response.text
    return await find_event(w, request_id=rid, client_id=response.json()["id"], action="create")


WEBHOOK_URL = "http://127.0.0.1:9/hook"  # nothing is delivered: no worker runs here


async def _event(w: World, n: int) -> dict[str, Any]:
    made = await _client(w, n)
    response = await w.http.get(
        "/v1/events", params={"limit": 200, "types": "client.created"}, headers=w.admin
    )
    assert response.status_code == 200, response.text
    found = [e for e in response.json()["items"] if e["resource_id"] == made["id"]]
    assert len(found) == 1, response.text
    event: dict[str, Any] = found[0]
    return event


async def _webhook(w: World, n: int) -> dict[str, Any]:
    return await w.post(
        "/v1/webhooks", {"url": f"{WEBHOOK_URL}/{n}", "event_types": ["client.created"]}
    )


async def _delivery(w: World, n: int) -> dict[str, Any]:
    hook = await w.one("webhooks")
    await _client(w, n)
    async with w.maker() as db:
        assert await events_service.fan_out(db, dt.datetime.now(dt.UTC)) >= 1
        await db.commit()
    response = await w.http.get(
        f"/v1/webhooks/{hook['id']}/deliveries", params={"limit": 200}, headers=w.admin
    )
    assert response.status_code == 200, response.text
    delivery: dict[str, Any] = response.json()["items"][-1]
    return delivery


@dataclass(frozen=True)
class Factory:
    make: Callable[[World, int], Awaitable[dict[str, Any]]]
    change: dict[str, Any] | None  # a valid PATCH body, when the type has a PATCH route
    client_data: bool  # reading it is reading a client's data (audited)
    model: type | None = None  # an archivable type without a DELETE route is archived here


FACTORIES: dict[str, Factory] = {
    "therapists": Factory(_therapist, {"phone": "+1 555 0199"}, client_data=False),
    "referring-professionals": Factory(
        _referring_professional, {"fax": "+1 555 0188"}, client_data=False
    ),
    "clients": Factory(_client, {"notes": "Prefers mornings"}, client_data=True),
    "precautions": Factory(_precaution, {"description": "Now healed"}, client_data=True),
    "consents": Factory(_consent, None, client_data=True),
    "referrals": Factory(_referral, {"reason": "Neck pain as well"}, client_data=True),
    "care-plans": Factory(_care_plan, {"title": "Renamed plan"}, client_data=True),
    "goals": Factory(_goal, {"description": "Sit for an hour"}, client_data=True, model=Goal),
    "sessions": Factory(_session, {"duration_minutes": 45}, client_data=True),
    "measurements": Factory(_measurement, None, client_data=True),
    "users": Factory(_user, {"display_name": "Renamed user"}, client_data=False),
    "api-keys": Factory(_api_key, None, client_data=False),
    "audit-events": Factory(_audit_event, None, client_data=False),
    "events": Factory(_event, None, client_data=False),
    "webhooks": Factory(_webhook, {"active": False}, client_data=False),
    "deliveries": Factory(_delivery, None, client_data=False),
}
# the FHIR facade's types are views of the resources above
FHIR_TYPES = {
    "Patient": "clients",
    "Practitioner": "therapists",
    "ServiceRequest": "referrals",
    "CarePlan": "care-plans",
    "Goal": "goals",
    "Encounter": "sessions",
    "Observation": "measurements",
}
# paths that address no stored resource
NOT_RESOURCES = {
    "",
    "health",
    "ready",
    "metrics",
    "openapi.json",
    "docs",
    "oauth2-redirect",
    "redoc",
    "token",
    "metadata",
}


# paths that read every client's data at once: one audit event, of this action, for the request
BULK_READS = {"export": "export"}


def kind_of(type_name: str) -> str:
    return FHIR_TYPES.get(type_name, type_name)


def route_kind(route: APIRoute) -> str | None:
    """The resource type a route reads or changes: a list's rows, or the item it addresses."""
    if is_list(route):
        return kind_of(last_type(route.path))
    named = item_type(route.path)
    if named is not None:
        return kind_of(named)
    last = last_type(route.path)
    return None if last in NOT_RESOURCES or last in BULK_READS else kind_of(last)


async def find_event(w: World, **match: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": 200, "action": match["action"]}
    if match.get("client_id") is not None:
        params["client_id"] = match["client_id"]
    response = await w.http.get("/v1/audit-events", params=params, headers=w.admin)
    assert response.status_code == 200, response.text
    found = [e for e in response.json()["items"] if all(e[k] == v for k, v in match.items())]
    assert len(found) == 1, (match, response.json()["items"])
    event: dict[str, Any] = found[0]
    return event


async def url_for(w: World, path: str) -> str:
    """The path with each parameter filled by the instance of the type it follows."""
    parts = path.split("/")
    for i, part in enumerate(parts):
        if part.startswith("{"):
            kind = kind_of(parts[i - 1])
            parts[i] = str((await w.one(kind))["id"])
    url = "/".join(parts)
    if path.startswith("/fhir/") and item_type(path) is None:
        search = "_id" if path.endswith("/Patient") else "patient"
        url += f"?{search}={(await w.one('clients'))['id']}"
    return url


@pytest.fixture
async def world(
    client: httpx.AsyncClient, staff: Staff, sessionmaker: async_sessionmaker[AsyncSession]
) -> World:
    return World(client, staff, sessionmaker)


def test_every_route_has_a_factory() -> None:
    missing = set()
    for route in ROUTES:
        for name in (item_type(route.path), last_type(route.path)):
            if name is None or name in NOT_RESOURCES or name in BULK_READS:
                continue
            if route.path.endswith(f"/{name}") and item_type(route.path) is not None:
                continue  # an action on an item (sign, revoke, summary, export ...)
            if kind_of(name) not in FACTORIES:
                missing.add((route.path, name))
    assert missing == set(), "resource types without a factory in FACTORIES"


def test_the_walk_finds_the_routes_it_should() -> None:
    """The route discovery itself: it must see the routes the contract names."""
    patches = {r.path for r in ROUTES if "PATCH" in _methods(r)}
    lists = {r.path for r in ROUTES if "GET" in _methods(r) and is_list(r)}
    posts = {r.path for r in ROUTES if "POST" in _methods(r)}
    assert {
        "/v1/clients/{client_id}",
        "/v1/sessions/{session_id}",
        "/v1/precautions/{precaution_id}",
        "/v1/goals/{goal_id}",
    } <= patches
    assert {
        "/v1/clients",
        "/v1/sessions",
        "/v1/clients/{client_id}/precautions",
        "/v1/care-plans/{care_plan_id}/goals",
    } <= lists
    assert "/v1/health" not in lists
    assert {"/v1/sessions/{session_id}/sign", "/v1/clients", "/v1/auth/token"} <= posts


# --- PATCH: If-Match ----------------------------------------------------------------------------


@pytest.mark.parametrize("route", routes_with("PATCH", lambda r: r.path.startswith("/v1/")))
async def test_every_patch_needs_the_current_version(world: World, route: APIRoute) -> None:
    kind = route_kind(route)
    assert kind is not None, route.path
    assert kind in FACTORIES, f"no factory for {route.path}"
    change = FACTORIES[kind].change
    assert change is not None, f"FACTORIES[{kind!r}] needs a valid PATCH body"
    url = await url_for(world, route.path)
    before = await world.http.get(url, headers=world.admin)
    assert before.status_code == 200, before.text
    assert before.headers["etag"] == '"1"'

    missing = await world.http.patch(url, json=change, headers=world.admin)
    assert_problem(missing, 428, "precondition-required")
    assert (await world.http.get(url, headers=world.admin)).json() == before.json()

    current = await world.http.patch(url, json=change, headers={**world.admin, "If-Match": '"1"'})
    assert current.status_code == 200, current.text
    assert current.json()["version"] == 2
    assert current.headers["etag"] == '"2"'
    after = await world.http.get(url, headers=world.admin)
    assert after.json()["version"] == 2
    assert all(after.json()[name] == value for name, value in change.items())

    stale = await world.http.patch(
        url, json=FACTORIES[kind].change, headers={**world.admin, "If-Match": '"1"'}
    )
    assert_problem(stale, 412, "precondition-failed")
    assert (await world.http.get(url, headers=world.admin)).json() == after.json()


# --- lists: archived rows and the cursor walk -----------------------------------------------------


def _delete_route(kind: str) -> APIRoute | None:
    """The DELETE route of one instance of `kind` (`/v1/<kind>/{id}`), if any."""
    for route in ROUTES:
        if (
            "DELETE" in _methods(route)
            and route.path.endswith("}")
            and kind_of(item_type(route.path) or "") == kind
        ):
            return route
    return None


async def _archive(world: World, kind: str, row: dict[str, Any]) -> bool:
    """Archive a row the way the app does: its DELETE route, or (for an archivable type with
    none) `archived_at` set in the database. False when the type cannot be archived."""
    item = _delete_route(kind)
    if item is not None:
        url = re.sub(r"\{\w+\}", str(row["id"]), item.path)
        response = await world.http.delete(url, headers=world.admin)
        if kind == "api-keys":  # revoking a key is no archive: it stays listed
            assert response.status_code == 204, response.text
            return False
        assert response.status_code == 204, response.text
        return True
    model = FACTORIES[kind].model
    if model is None:
        return False
    async with world.maker() as db:
        await db.execute(
            update(model)
            .where(model.id == uuid.UUID(row["id"]))  # type: ignore[attr-defined]
            .values(archived_at=dt.datetime.now(dt.UTC))
        )
        await db.commit()
    return True


async def _list_ids(world: World, url: str, **params: Any) -> list[str]:
    response = await world.http.get(url, params={"limit": 200, **params}, headers=world.admin)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def _walk(world: World, route: APIRoute, url: str) -> list[str]:
    """Page by page with `limit=1`; a feed (`after=`) always hands back a cursor, and ends with
    an empty page."""
    name = "cursor" if takes_query(route, "cursor") else "after"
    assert takes_query(route, name), f"{route.path} takes neither cursor nor after"
    ids: list[str] = []
    cursor: str | None = None
    for _ in range(500):
        params: dict[str, Any] = {"limit": 1, **({name: cursor} if cursor else {})}
        response = await world.http.get(url, params=params, headers=world.admin)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= 1
        ids.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None or (name == "after" and not page["items"]):
            return ids
    raise AssertionError("the cursor walk does not end")


@pytest.mark.parametrize("route", routes_with("GET", is_list))
async def test_every_list_walks_each_row_once_in_order(world: World, route: APIRoute) -> None:
    kind = route_kind(route)
    assert kind is not None, route.path
    assert kind in FACTORIES, f"no factory for {route.path}"
    url = await url_for(world, route.path)
    made = [(await world.new(kind))["id"] for _ in range(3)]
    listed = await _list_ids(world, url)
    walked = await _walk(world, route, url)
    # the walk may see rows written while it ran (read audit events), never a row twice
    assert len(walked) == len(set(walked))
    assert walked[: len(listed)] == listed
    assert [i for i in listed if i in made] == made  # oldest first


@pytest.mark.parametrize("route", routes_with("GET", is_list))
async def test_every_list_leaves_out_archived_rows(world: World, route: APIRoute) -> None:
    kind = route_kind(route)
    assert kind is not None, route.path
    assert kind in FACTORIES, f"no factory for {route.path}"
    url = await url_for(world, route.path)
    kept, gone = (await world.new(kind))["id"], (await world.new(kind))["id"]
    if not await _archive(world, kind, {"id": gone}):
        return  # rows of this type are never archived (precautions, consents, keys, events)
    listed = await _list_ids(world, url)
    assert kept in listed
    assert gone not in listed
    if takes_query(route, "include_archived"):
        assert {kept, gone} <= set(await _list_ids(world, url, include_archived="true"))
        assert gone not in await _list_ids(world, url, include_archived="false")


# --- reads of a client's data are audited -------------------------------------------------------


def _reads_client_data(route: APIRoute) -> bool:
    kind = route_kind(route)
    return kind is not None and kind in FACTORIES and FACTORIES[kind].client_data


def test_client_data_routes_are_found() -> None:
    found = {r.path for r in ROUTES if "GET" in _methods(r) and _reads_client_data(r)}
    assert {
        "/v1/clients",
        "/v1/clients/{client_id}",
        "/v1/clients/{client_id}/export",
        "/v1/sessions/{session_id}",
        "/v1/sessions",
        "/v1/care-plans/{care_plan_id}/summary",
        "/v1/referrals/{referral_id}/summary",
        "/fhir/R4/Patient/{resource_id}",
        "/fhir/R4/Encounter",
    } <= found
    assert "/v1/therapists" not in found
    assert "/fhir/R4/Practitioner/{resource_id}" not in found


@pytest.mark.parametrize("route", routes_with("GET", _reads_client_data))
async def test_every_read_of_client_data_is_audited(world: World, route: APIRoute) -> None:
    kind = route_kind(route)
    assert kind is not None
    url = await url_for(world, route.path)
    if is_list(route):
        await world.one(kind)  # something for the list to show
    client_id = await world.client_of(kind)
    assert client_id is not None
    rid = f"read-{uuid.uuid4().hex}"
    response = await world.http.get(url, headers={**world.admin, "X-Request-ID": rid})
    assert response.status_code == 200, response.text
    action = "export" if route.path.endswith("/export") else "read"
    event = await find_event(world, request_id=rid, client_id=client_id, action=action)
    assert event["actor_id"] == str(world.staff.key_ids[Role.admin])


def _bulk_read(route: APIRoute) -> bool:
    return item_type(route.path) is None and last_type(route.path) in BULK_READS


@pytest.mark.parametrize("route", routes_with("GET", _bulk_read))
async def test_every_bulk_read_is_one_audit_event(world: World, route: APIRoute) -> None:
    await world.one("sessions")  # a client with a plan, a goal and a session to read
    rid = f"bulk-{uuid.uuid4().hex}"
    response = await world.http.get(route.path, headers={**world.admin, "X-Request-ID": rid})
    assert response.status_code == 200, response.text
    event = await find_event(
        world, request_id=rid, action=BULK_READS[last_type(route.path)], client_id=None
    )
    assert event["actor_id"] == str(world.staff.key_ids[Role.admin])


# --- POST bodies: exactly 1 MiB passes, one byte more is 413 --------------------------------------


def _json_of_size(size: int) -> bytes:
    frame = b'{"padding": ""}'
    body = b'{"padding": "' + b"x" * (size - len(frame)) + b'"}'
    assert len(body) == size
    return body


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    step = 64 * 1024
    for start in range(0, len(body), step):
        yield body[start : start + step]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("route", routes_with("POST"))
async def test_every_post_takes_one_mib_and_not_a_byte_more(
    world: World, route: APIRoute, chunked: bool
) -> None:
    url = re.sub(r"\{\w+\}", str(uuid.uuid4()), route.path)
    headers = {**world.admin, "Content-Type": "application/json"}
    for size, too_large in ((ONE_MIB, False), (ONE_MIB + 1, True)):
        body = _json_of_size(size)
        content: bytes | AsyncIterator[bytes] = _chunks(body) if chunked else body
        response = await world.http.post(url, content=content, headers=headers)
        if chunked:
            assert "content-length" not in response.request.headers
        else:
            assert response.request.headers["content-length"] == str(size)
        if too_large:
            assert_problem(response, 413, "payload-too-large")
        else:
            assert response.status_code != 413, response.text
            assert response.status_code < 500, response.text
