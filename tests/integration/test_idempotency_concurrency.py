"""`Idempotency-Key` under concurrency, on a database with real commits: simultaneous first
requests create one record; a repeat while the first runs is 409; a failure frees the key."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, text

from app.clients.models import Client
from app.core.idempotency import IdempotencyRecord
from tests import factories
from tests.core.problems import assert_problem
from tests.live import live_app

ROUNDS = 3
CONTENDERS = 8


async def test_simultaneous_first_requests_create_one_record(database_url: str) -> None:
    async with live_app(database_url, "idem_race") as live:
        for round_no in range(ROUNDS):
            family = f"Race{round_no}"
            headers = {**live.admin, "Idempotency-Key": f"race-{round_no}"}

            async def post(
                family: str = family, headers: dict[str, str] = headers
            ) -> tuple[int, str | None]:
                response = await live.http.post(
                    "/v1/clients", json=factories.client(family_name=family), headers=headers
                )
                if response.status_code == 409:
                    assert_problem(response, 409, "conflict")
                    return 409, None
                assert response.status_code == 201, response.text
                return 201, response.json()["id"]

            results = await asyncio.gather(*(post() for _ in range(CONTENDERS)))
            ids = {client_id for status, client_id in results if status == 201}
            assert len(ids) == 1, results
            async with live.app.state.sessionmaker() as db:
                count = await db.scalar(
                    select(func.count()).select_from(Client).where(Client.family_name == family)
                )
            assert count == 1
            # once the first has finished, every repeat gets its response
            again = await live.http.post(
                "/v1/clients", json=factories.client(family_name=family), headers=headers
            )
            assert again.status_code == 201
            assert again.json()["id"] in ids


async def test_a_failed_request_leaves_no_claim(database_url: str) -> None:
    async with live_app(database_url, "idem_release") as live:
        headers = {**live.admin, "Idempotency-Key": "will-fail"}
        invalid = await live.http.post("/v1/clients", json={"given_name": "X"}, headers=headers)
        assert_problem(invalid, 422, "validation-error")
        async with live.app.state.sessionmaker() as db:
            rows = await db.scalars(
                select(IdempotencyRecord.id).where(IdempotencyRecord.key == "will-fail")
            )
            assert rows.all() == []
        valid = await live.http.post("/v1/clients", json=factories.client(), headers=headers)
        assert valid.status_code == 201
        async with live.app.state.sessionmaker() as db:
            status = await db.scalar(
                select(IdempotencyRecord.response_status).where(
                    IdempotencyRecord.key == "will-fail"
                )
            )
        assert status == 201


async def test_a_repeat_while_the_first_runs_is_409(database_url: str, backend: str) -> None:
    if backend == "sqlite":
        pytest.skip("the first request is held by a row lock (FOR UPDATE), which SQLite lacks")
    async with live_app(database_url, "idem_running") as live:
        http, admin = live.http, live.admin
        therapist = await http.post("/v1/therapists", json=factories.therapist(), headers=admin)
        client = await http.post("/v1/clients", json=factories.client(), headers=admin)
        booking = {
            "client_id": client.json()["id"],
            "therapist_id": therapist.json()["id"],
            "scheduled_start": "2030-05-01T09:00:00Z",
            "duration_minutes": 60,
            "session_type": "relaxation",
        }
        headers = {**admin, "Idempotency-Key": "slow-booking"}
        async with live.app.state.sessionmaker() as blocker:
            # booking locks the therapist's row: hold it so the first request waits mid-work
            await blocker.execute(
                text("SELECT id FROM therapists WHERE id = :id FOR UPDATE"),
                {"id": therapist.json()["id"]},
            )
            first = asyncio.create_task(http.post("/v1/sessions", json=booking, headers=headers))
            for _ in range(200):
                async with live.app.state.sessionmaker() as db:
                    claimed = await db.scalar(
                        select(func.count())
                        .select_from(IdempotencyRecord)
                        .where(IdempotencyRecord.key == "slow-booking")
                    )
                if claimed:
                    break
                await asyncio.sleep(0.02)
            assert claimed == 1
            await asyncio.sleep(0.1)
            assert not first.done()
            running = await http.post("/v1/sessions", json=booking, headers=headers)
            assert_problem(running, 409, "conflict")
            await blocker.rollback()
        done = await first
        assert done.status_code == 201, done.text
        replay = await http.post("/v1/sessions", json=booking, headers=headers)
        assert replay.status_code == 201
        assert replay.json()["id"] == done.json()["id"]
