"""The yardstick: a bare ASGI app (no framework) on asyncpg and orjson that answers the
benchmarked requests with the same SQL and the same JSON as Careplan.

It is honest on purpose: it authenticates the API key with the same query, reads the same rows,
writes the same audit rows in the same transaction (and, for a new client, the same outbox event
under the same sequencer lock), commits before answering and serializes the same fields. What
it leaves out is the framework: routing, dependency injection, validation and serialization
layers, the ORM. Run it with uvicorn:

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/careplan_bench \
        .venv/bin/uvicorn bench.bare_app:app --port 8001 --no-access-log
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import asyncpg
import orjson

from app.events.outbox import EVENT_SEQUENCER_LOCK
from bench import bare_summary

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

CLIENT_COLUMNS = (
    "id, given_name, family_name, date_of_birth, email, phone, address, emergency_contact, "
    "pregnancy_due_date, notes, created_at, updated_at, archived_at, version"
)
AUDIT_INSERT = (
    "INSERT INTO audit_events (id, at, actor_type, actor_id, role, action, resource_type, "
    "resource_id, client_id, request_id, ip, method, path, status) "
    "SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::uuid[], $5::text[], "
    "$6::text[], $7::text[], $8::uuid[], $9::uuid[], $10::text[], $11::text[], $12::text[], "
    "$13::text[], $14::int[])"
)
EVENT_INSERT = (
    "INSERT INTO events (id, type, occurred_at, resource_type, resource_id, data) "
    "VALUES ($1, $2, $3, $4, $5, $6)"
)
CLIENT_PATH = re.compile(r"^/v1/clients/([0-9a-fA-F-]{36})$")
SUMMARY_PATH = re.compile(r"^/v1/care-plans/([0-9a-fA-F-]{36})/summary$")
OPTS = orjson.OPT_UTC_Z


class Problem(Exception):
    def __init__(self, status: int, slug: str, title: str) -> None:
        self.status, self.slug, self.title = status, slug, title


def _json_text(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str) else value


def _client_json(row: asyncpg.Record) -> dict[str, Any]:
    out = dict(row)
    out["emergency_contact"] = _json_text(out["emergency_contact"])
    return out


def _cursor(created_at: dt.datetime, row_id: uuid.UUID) -> str:
    raw = orjson.dumps([created_at.isoformat(), str(row_id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class BareApp:
    def __init__(self) -> None:
        self.pool: asyncpg.Pool | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        try:
            status, headers, body = await self._dispatch(scope, receive)
        except Problem as problem:
            status, headers = problem.status, {}
            body = orjson.dumps(
                {
                    "type": f"/problems/{problem.slug}",
                    "title": problem.title,
                    "status": problem.status,
                }
            )
            headers["content-type"] = "application/problem+json"
        raw_headers = [(b"content-length", str(len(body)).encode())]
        raw_headers += [(k.encode(), v.encode()) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                url = os.environ["BENCH_DATABASE_URL"].replace("postgresql+asyncpg", "postgresql")
                size = int(os.environ.get("CAREPLAN_DB_POOL_SIZE", "20"))
                self.pool = await asyncpg.create_pool(url, min_size=size, max_size=size)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.pool is not None:
                    await self.pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _dispatch(self, scope: Scope, receive: Receive) -> tuple[int, dict[str, str], bytes]:
        method, path = scope["method"], scope["path"]
        token = _bearer(scope)
        assert self.pool is not None
        async with self.pool.acquire() as conn, conn.transaction():
            caller = await conn.fetchrow(
                "SELECT id, role FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
                hashlib.sha256(token.encode()).hexdigest(),
            )
            if caller is None:
                raise Problem(401, "unauthorized", "Unauthorized")
            if method == "GET" and (match := CLIENT_PATH.match(path)):
                return await self._client(conn, caller, uuid.UUID(match.group(1)), scope)
            if method == "GET" and path == "/v1/clients":
                return await self._clients(conn, caller, scope)
            if method == "POST" and path == "/v1/clients":
                return await self._create_client(conn, caller, scope, await _body(receive))
            if method == "GET" and (match := SUMMARY_PATH.match(path)):
                return await self._summary(conn, caller, uuid.UUID(match.group(1)), scope)
        raise Problem(404, "not-found", "Not Found")

    async def _client(
        self, conn: asyncpg.Connection, caller: asyncpg.Record, client_id: uuid.UUID, scope: Scope
    ) -> tuple[int, dict[str, str], bytes]:
        row = await conn.fetchrow(
            f"SELECT {CLIENT_COLUMNS} FROM clients WHERE id = $1 AND archived_at IS NULL",
            client_id,
        )
        if row is None:
            raise Problem(404, "not-found", "No such client")
        await _audit(conn, caller, scope, "read", [(row["id"], row["id"])])
        body = orjson.dumps(_client_json(row), default=str, option=OPTS)
        return 200, _json_headers(version=row["version"]), body

    async def _clients(
        self, conn: asyncpg.Connection, caller: asyncpg.Record, scope: Scope
    ) -> tuple[int, dict[str, str], bytes]:
        query = parse_qs(scope["query_string"].decode())
        limit = int(query.get("limit", ["50"])[0])
        if not 1 <= limit <= 200:
            raise Problem(422, "validation-error", "limit is 1–200")
        rows = await conn.fetch(
            f"SELECT {CLIENT_COLUMNS} FROM clients WHERE archived_at IS NULL "
            "ORDER BY created_at, id LIMIT $1",
            limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        await _audit(conn, caller, scope, "read", [(r["id"], r["id"]) for r in rows])
        cursor = _cursor(rows[-1]["created_at"], rows[-1]["id"]) if more else None
        body = orjson.dumps(
            {"items": [_client_json(r) for r in rows], "next_cursor": cursor},
            default=str,
            option=OPTS,
        )
        return 200, _json_headers(), body

    async def _create_client(
        self, conn: asyncpg.Connection, caller: asyncpg.Record, scope: Scope, raw: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        try:
            data = orjson.loads(raw)
            given, family = data["given_name"].strip(), data["family_name"].strip()
            born_text = data.get("date_of_birth")
            born = dt.date.fromisoformat(born_text) if born_text else None
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise Problem(422, "validation-error", "Invalid client") from exc
        if not given or not family:
            raise Problem(422, "validation-error", "Names may not be empty")
        now = dt.datetime.now(dt.UTC)
        row = await conn.fetchrow(
            "INSERT INTO clients (id, given_name, family_name, date_of_birth, email, phone, "
            "address, emergency_contact, pregnancy_due_date, notes, created_at, updated_at, "
            "version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9, $10, $10, 1) "
            f"RETURNING {CLIENT_COLUMNS}",
            uuid.uuid4(),
            given,
            family,
            born,
            data.get("email"),
            data.get("phone"),
            data.get("address"),
            orjson.dumps(data["emergency_contact"]).decode()
            if data.get("emergency_contact")
            else None,
            data.get("notes"),
            now,
        )
        await _audit(conn, caller, scope, "create", [(row["id"], row["id"])])
        body = orjson.dumps(_client_json(row), default=str, option=OPTS)
        # the outbox event Careplan writes in the same transaction, numbered under its sequencer
        await conn.execute("SELECT pg_advisory_xact_lock($1)", EVENT_SEQUENCER_LOCK)
        await conn.execute(
            EVENT_INSERT, uuid.uuid4(), "client.created", now, "client", row["id"], body.decode()
        )
        headers = _json_headers(version=row["version"])
        headers["location"] = f"/v1/clients/{row['id']}"
        return 201, headers, body

    async def _summary(
        self, conn: asyncpg.Connection, caller: asyncpg.Record, plan_id: uuid.UUID, scope: Scope
    ) -> tuple[int, dict[str, str], bytes]:
        plan = await bare_summary.load_plan(conn, plan_id)
        if plan is None:
            raise Problem(404, "not-found", "No such care plan")
        summary = await bare_summary.care_plan_summary(conn, plan, dt.datetime.now(dt.UTC))
        await _audit(
            conn,
            caller,
            scope,
            "read",
            [(plan["id"], plan["client_id"])],
            resource_type="care_plan_summary",
        )
        headers = {**_json_headers(), "vary": "Accept"}
        return 200, headers, orjson.dumps(summary, default=str, option=OPTS)


def _json_headers(version: int | None = None) -> dict[str, str]:
    headers = {"content-type": "application/json", "cache-control": "no-store"}
    if version is not None:
        headers["etag"] = f'"{version}"'
    return headers


def _bearer(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return str(value[7:].decode())
    raise Problem(401, "unauthorized", "Unauthorized")


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _audit(
    conn: asyncpg.Connection,
    caller: asyncpg.Record,
    scope: Scope,
    action: str,
    rows: list[tuple[uuid.UUID, uuid.UUID]],
    resource_type: str = "client",
) -> None:
    if not rows:
        return
    now = dt.datetime.now(dt.UTC)
    n = len(rows)
    request_id = uuid.uuid4().hex
    ip = scope["client"][0] if scope.get("client") else None
    await conn.execute(
        AUDIT_INSERT,
        [uuid.uuid4() for _ in rows],
        [now] * n,
        ["api_key"] * n,
        [caller["id"]] * n,
        [caller["role"]] * n,
        [action] * n,
        [resource_type] * n,
        [r for r, _ in rows],
        [c for _, c in rows],
        [request_id] * n,
        [ip] * n,
        [scope["method"]] * n,
        [scope["path"]] * n,
        [None] * n,
    )


app = BareApp()
