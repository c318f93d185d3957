"""Simultaneous overlapping bookings for one therapist: exactly one wins, on both databases."""

from __future__ import annotations

import asyncio
import datetime as dt

from tests import factories
from tests.live import live_app

ROUNDS = 3
CONTENDERS = 8


async def test_simultaneous_overlapping_bookings(database_url: str) -> None:
    async with live_app(database_url, "booking") as live:
        http, admin = live.http, live.admin
        therapist = await http.post("/v1/therapists", json=factories.therapist(), headers=admin)
        client = await http.post("/v1/clients", json=factories.client(), headers=admin)
        assert therapist.status_code == client.status_code == 201
        for round_no in range(ROUNDS):
            base = dt.datetime(2030, 5, 1 + round_no, 9, tzinfo=dt.UTC)

            async def book(offset: int, base: dt.datetime = base) -> int:
                start = base + dt.timedelta(minutes=10 * offset)
                response = await http.post(
                    "/v1/sessions",
                    json={
                        "client_id": client.json()["id"],
                        "therapist_id": therapist.json()["id"],
                        "scheduled_start": start.isoformat(),
                        "duration_minutes": 60,
                        "session_type": "relaxation",
                    },
                    headers=admin,
                )
                if response.status_code == 409:
                    assert response.json()["type"] == "/problems/therapist-unavailable"
                return response.status_code

            statuses = await asyncio.gather(*(book(i % 3) for i in range(CONTENDERS)))
            assert sorted(statuses) == [201] + [409] * (CONTENDERS - 1), statuses
        listed = await http.get(
            f"/v1/sessions?therapist_id={therapist.json()['id']}", headers=admin
        )
        assert len(listed.json()["items"]) == ROUNDS
