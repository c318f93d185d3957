"""What the hot requests cost in SQL: the statements each one sends, written out, and the same
with 3 clients in the database as with 120. A statement more per request (a lazy load, a
lookup that moved into a loop, an audit row written one by one) fails here. The summary has
its own test (`tests/summaries/test_summary_queries.py`)."""

from __future__ import annotations

import re
import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from app.clients.models import Client
from tests import factories
from tests.conftest import Staff
from tests.statements import captured

_TABLE = re.compile(
    r"^\s*(?:(SELECT)\b.*?\bFROM\s+(\w+)|(INSERT)\s+INTO\s+(\w+)|(UPDATE)\s+(\w+)|"
    r"(DELETE)\s+FROM\s+(\w+)|(SELECT)\s+(pg_advisory_xact_lock))",
    re.S | re.I,
)


_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b", re.I)


def _kind(statement: str) -> str:
    """`SELECT clients`, `INSERT audit_events`…: the verb and the table of a statement."""
    match = _TABLE.match(statement)
    assert match, f"unexpected statement: {statement[:200]}"
    verb, table = (part for part in match.groups() if part)
    return f"{verb.upper()} {table}"


async def _add_clients(sessionmaker: async_sessionmaker[AsyncSession], n: int) -> None:
    async with sessionmaker() as session:
        session.add_all(Client(given_name=f"Given{i}", family_name=f"Family{i}") for i in range(n))
        await session.commit()


async def _each_request(
    client: httpx.AsyncClient, connection: AsyncConnection, staff: Staff, client_id: str
) -> dict[str, list[str]]:
    admin = staff.headers("admin")
    requests = {
        "GET /v1/clients/{id}": ("GET", f"/v1/clients/{client_id}", None),
        "GET /v1/clients?limit=50": ("GET", "/v1/clients?limit=50", None),
        "POST /v1/clients": ("POST", "/v1/clients", factories.client()),
    }
    sent: dict[str, list[str]] = {}
    for name, (method, path, body) in requests.items():
        with captured(connection) as seen:
            response = await client.request(method, path, json=body, headers=admin)
        assert response.status_code < 300, response.text
        # transaction control (and the test harness's savepoints) aside
        sent[name] = [_kind(statement) for statement, _ in seen if not _CONTROL.match(statement)]
    return sent


AUTH = ["SELECT api_keys"]
EXPECTED = {
    # the caller, the row, the read's audit row (group commit: one INSERT for the whole batch)
    "GET /v1/clients/{id}": [*AUTH, "SELECT clients", "INSERT audit_events"],
    # the caller, one page, one INSERT of the page's audit rows
    "GET /v1/clients?limit=50": [*AUTH, "SELECT clients", "INSERT audit_events"],
    # the caller, the row, its audit row, its event in the outbox (whose `data` is built from
    # the row in memory: no SELECT)
    "POST /v1/clients": [*AUTH, "INSERT clients", "INSERT audit_events", "INSERT events"],
}
# PostgreSQL numbers events in commit order under a transaction-level advisory lock
SEQUENCER = "SELECT pg_advisory_xact_lock"


def _expected(backend: str) -> dict[str, list[str]]:
    if backend != "postgresql":
        return EXPECTED
    post = EXPECTED["POST /v1/clients"]
    at = post.index("INSERT events")
    return {**EXPECTED, "POST /v1/clients": [*post[:at], SEQUENCER, *post[at:]]}


async def test_hot_requests_send_the_same_statements_whatever_the_data(
    client: httpx.AsyncClient,
    connection: AsyncConnection,
    sessionmaker: async_sessionmaker[AsyncSession],
    staff: Staff,
    backend: str,
) -> None:
    await _add_clients(sessionmaker, 2)
    created = await client.post(
        "/v1/clients", json=factories.client(), headers=staff.headers("admin")
    )
    client_id = created.json()["id"]
    uuid.UUID(client_id)

    with_three = await _each_request(client, connection, staff, client_id)
    assert with_three == _expected(backend)

    await _add_clients(sessionmaker, 117)
    with_many = await _each_request(client, connection, staff, client_id)
    assert with_many == _expected(backend)
