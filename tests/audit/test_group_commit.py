"""The audit events of reads go through group commit: many requests share one INSERT and one
commit, and no answer leaves before its events are committed.

These run on a database of their own, with real committed transactions and a connection pool,
as a worker does (on SQLite always; on PostgreSQL when the suite runs there).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.models import AuditEvent
from app.audit.writer import AuditWriter
from tests import factories
from tests.live import LIVE_BACKENDS, LiveApp, live_app, live_database_url

READERS = 24


@pytest.fixture(params=LIVE_BACKENDS)
async def live(
    request: pytest.FixtureRequest, database_url: str, backend: str, tmp_path: Path
) -> AsyncIterator[LiveApp]:
    url = live_database_url(request, database_url, backend, tmp_path, "group_commit")
    async with live_app(database_url, "group_commit", url=url) as app:
        yield app


async def _reads_of(live: LiveApp, client: str) -> int:
    client_id = uuid.UUID(client)
    async with live.sessionmaker() as session:
        return int(
            await session.scalar(
                select(func.count()).where(
                    AuditEvent.client_id == client_id, AuditEvent.action == "read"
                )
            )
            or 0
        )


async def test_concurrent_reads_share_inserts_and_each_is_recorded(live: LiveApp) -> None:
    transport = httpx.ASGITransport(app=live.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://careplan.test") as http:
        created = await http.post("/v1/clients", json=factories.client(), headers=live.admin)
        assert created.status_code == 201, created.text
        url = f"/v1/clients/{created.json()['id']}"
        writer: AuditWriter = live.app.state.audit_writer
        batches_before = writer.batches_written
        responses = await asyncio.gather(
            *(http.get(url, headers=live.admin) for _ in range(READERS))
        )
        assert {r.status_code for r in responses} == {200}
        # every read answered has its own event, committed (read back on another connection)
        assert await _reads_of(live, created.json()["id"]) == READERS
        request_ids = {r.headers["x-request-id"] for r in responses}
        async with live.sessionmaker() as session:
            recorded = set(
                await session.scalars(
                    select(AuditEvent.request_id).where(
                        AuditEvent.client_id == uuid.UUID(created.json()["id"]),
                        AuditEvent.action == "read",
                    )
                )
            )
        assert recorded == request_ids
        # and they went to the database in fewer INSERTs than requests
        assert writer.batches_written - batches_before < READERS


async def test_no_answer_leaves_before_its_read_is_recorded(live: LiveApp) -> None:
    transport = httpx.ASGITransport(app=live.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://careplan.test") as http:
        created = await http.post("/v1/clients", json=factories.client(), headers=live.admin)
        url = f"/v1/clients/{created.json()['id']}"

        writer: AuditWriter = live.app.state.audit_writer
        working = writer._sessionmaker

        def unavailable() -> AsyncSession:
            raise ConnectionError("the audit trail's database does not answer")

        # the writer cannot write: the read must fail with it, not answer 200 unrecorded
        writer._sessionmaker = unavailable  # type: ignore[assignment]
        try:
            failed = await http.get(url, headers=live.admin)
        finally:
            writer._sessionmaker = working
        assert failed.status_code == 500
        assert failed.headers["content-type"] == "application/problem+json"
        assert created.json()["given_name"] not in failed.text
        assert await _reads_of(live, created.json()["id"]) == 0
        # and once the trail is back, reads are answered and recorded again
        ok = await http.get(url, headers=live.admin)
        assert ok.status_code == 200
        assert await _reads_of(live, created.json()["id"]) == 1


async def test_reads_take_no_write_lock_on_sqlite(live: LiveApp) -> None:
    if live.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's locking")
    begins: list[str] = []

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("BEGIN"):
            begins.append(statement)

    transport = httpx.ASGITransport(app=live.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://careplan.test") as http:
        created = await http.post("/v1/clients", json=factories.client(), headers=live.admin)
        url = f"/v1/clients/{created.json()['id']}"
        event.listen(live.engine.sync_engine, "before_cursor_execute", on_execute)
        try:
            assert (await http.get(url, headers=live.admin)).status_code == 200
            read_begins = list(begins)
            begins.clear()
            assert (await http.get("/v1/clients", headers=live.admin)).status_code == 200
            list_begins = list(begins)
            begins.clear()
            patched = await http.patch(
                url, json={"phone": "+44 20 7946 0101"}, headers={**live.admin, "If-Match": '"1"'}
            )
            assert patched.status_code == 200, patched.text
        finally:
            event.remove(live.engine.sync_engine, "before_cursor_execute", on_execute)
    # the read's own transaction is deferred; only the audit writer's takes the write lock
    assert read_begins == ["BEGIN", "BEGIN IMMEDIATE"]
    assert list_begins == ["BEGIN", "BEGIN IMMEDIATE"]  # one event per client listed, likewise
    assert begins == ["BEGIN IMMEDIATE"]


def read_event(client_id: uuid.UUID) -> dict[str, Any]:
    """One audit event of a read, as the request path hands it to the writer."""
    return {
        "id": uuid.uuid4(),
        "at": dt.datetime.now(dt.UTC),
        "actor_type": None,
        "actor_id": None,
        "role": None,
        "action": "read",
        "resource_type": "client",
        "resource_id": client_id,
        "client_id": client_id,
        "request_id": "writer-test",
        "ip": None,
        "method": "GET",
        "path": f"/v1/clients/{client_id}",
        "status": None,
    }


async def test_drain_waits_for_every_event_handed_over(live: LiveApp) -> None:
    """At shutdown the writer is drained: events handed over are committed when it returns."""
    writer = AuditWriter(live.sessionmaker)
    client_id = uuid.uuid4()
    handed_over = asyncio.create_task(writer.write([read_event(client_id)]))
    await asyncio.sleep(0)  # the request has handed its event over; the flush has begun
    await writer.drain()
    assert await _reads_of(live, str(client_id)) == 1
    await handed_over
    # the counters the benchmarks read: one batch of one event, then one of two
    await writer.write([read_event(client_id), read_event(client_id)])
    assert (writer.batches_written, writer.events_written) == (2, 3)


class _Unavailable:
    """A database session that fails once `gate` opens, as a dropped connection does."""

    def __init__(self, gate: asyncio.Event) -> None:
        self.gate = gate
        self.entered = asyncio.Event()

    async def __aenter__(self) -> AsyncSession:
        self.entered.set()
        await self.gate.wait()
        raise ConnectionError("the audit trail's database does not answer")

    async def __aexit__(self, *exc: object) -> None:
        return None


async def test_a_failed_batch_leaves_no_later_request_waiting(live: LiveApp) -> None:
    gate = asyncio.Event()
    unavailable = _Unavailable(gate)
    failing: list[Any] = [unavailable]

    def sessionmaker() -> Any:
        return failing.pop() if failing else live.sessionmaker()

    writer = AuditWriter(sessionmaker)  # type: ignore[arg-type]
    lost, kept = uuid.uuid4(), uuid.uuid4()
    first = asyncio.create_task(writer.write([read_event(lost)]))
    await unavailable.entered.wait()  # the first batch is being written
    second = asyncio.create_task(writer.write([read_event(kept)]))
    await asyncio.sleep(0)  # handed over while the first batch fails
    gate.set()
    with pytest.raises(ConnectionError):
        await first
    await asyncio.wait_for(second, 60)  # a guard against a hang, not a measure of speed
    assert await _reads_of(live, str(kept)) == 1
    assert await _reads_of(live, str(lost)) == 0
