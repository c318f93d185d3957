"""A read's audit event is committed before its answer leaves: a worker killed (SIGKILL) the
moment a read was answered has recorded it all the same."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.core.db import create_engine, make_sessionmaker
from tests.databases import TEST_DATABASE_ENV, recreate_database, variant_url
from tests.test_cli import (
    BACKENDS,
    CAREPLAN,
    SERVE_READY_TIMEOUT_S,
    careplan,
    command_env,
    free_port,
)

READS = 5


@pytest.fixture(params=BACKENDS)
async def server_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'durable.db'}"
    else:
        url = variant_url(os.environ[TEST_DATABASE_ENV], "durable")
    await recreate_database(url)
    return url


async def test_reads_answered_before_a_kill_are_all_recorded(
    server_database_url: str, tmp_path: Path
) -> None:
    url = server_database_url
    assert (await careplan(url, tmp_path, "db", "upgrade")).code == 0
    made = await careplan(
        url, tmp_path, "admin", "create-api-key", "--name", "k", "--role", "admin"
    )
    assert made.code == 0, made
    headers = {"Authorization": f"Bearer {made.stdout.strip().splitlines()[-1]}"}
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        str(CAREPLAN),
        "serve",
        "--port",
        str(port),
        cwd=tmp_path,
        env=command_env(url),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    answered: list[str] = []
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) as http:
            deadline = asyncio.get_running_loop().time() + SERVE_READY_TIMEOUT_S
            while True:
                try:
                    if (await http.get("/v1/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    assert asyncio.get_running_loop().time() < deadline, "server did not start"
                    await asyncio.sleep(0.2)
            created = await http.post(
                "/v1/clients", json={"given_name": "Iris", "family_name": "Vogel"}, headers=headers
            )
            assert created.status_code == 201, created.text
            client_url = f"/v1/clients/{created.json()['id']}"
            reads = await asyncio.gather(
                *(http.get(client_url, headers=headers) for _ in range(READS))
            )
            assert {r.status_code for r in reads} == {200}
            answered = [r.headers["x-request-id"] for r in reads]
    finally:
        # no graceful shutdown: whatever was not committed before the answers is lost
        os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
    engine = create_engine(url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            recorded = set(
                await session.scalars(
                    select(AuditEvent.request_id).where(
                        AuditEvent.client_id == uuid.UUID(created.json()["id"]),
                        AuditEvent.action == "read",
                    )
                )
            )
    finally:
        await engine.dispose()
    assert recorded == set(answered)
