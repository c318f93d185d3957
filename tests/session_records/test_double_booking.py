"""Simultaneous overlapping bookings, against a live app on both databases: for one therapist
exactly one wins; for one client booked with two therapists at once, exactly one wins too."""

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
        therapists = [
            await http.post("/v1/therapists", json=factories.therapist(), headers=admin)
            for _ in range(2)
        ]
        clients = [
            await http.post("/v1/clients", json=factories.client(), headers=admin) for _ in range(2)
        ]
        assert {r.status_code for r in [*therapists, *clients]} == {201}
        therapist_ids = [t.json()["id"] for t in therapists]
        client_ids = [c.json()["id"] for c in clients]
        for round_no in range(ROUNDS):
            base = dt.datetime(2030, 5, 1 + round_no, 9, tzinfo=dt.UTC)

            async def book(
                offset: int, therapist_id: str, client_id: str, base: dt.datetime = base
            ) -> tuple[int, str | None]:
                start = base + dt.timedelta(minutes=10 * offset)
                response = await http.post(
                    "/v1/sessions",
                    json={
                        "client_id": client_id,
                        "therapist_id": therapist_id,
                        "scheduled_start": start.isoformat(),
                        "duration_minutes": 60,
                        "session_type": "relaxation",
                    },
                    headers=admin,
                )
                kind = response.json()["type"] if response.status_code == 409 else None
                return response.status_code, kind

            # one therapist, two clients: the therapist's time is what they contend for
            same_therapist = await asyncio.gather(
                *(book(i % 3, therapist_ids[0], client_ids[i % 2]) for i in range(CONTENDERS))
            )
            assert sorted(s for s, _ in same_therapist) == [201] + [409] * (CONTENDERS - 1)
            assert {k for _, k in same_therapist} - {None} <= {
                "/problems/therapist-unavailable",
                "/problems/client-unavailable",
            }
            assert "/problems/therapist-unavailable" in {k for _, k in same_therapist}
            # one client, two therapists, the next day: the client's time
            next_day = base + dt.timedelta(days=10)
            same_client = await asyncio.gather(
                *(
                    book(i % 3, therapist_ids[i % 2], client_ids[0], next_day)
                    for i in range(CONTENDERS)
                )
            )
            assert sorted(s for s, _ in same_client) == [201] + [409] * (CONTENDERS - 1)
            assert "/problems/client-unavailable" in {k for _, k in same_client}
        for therapist_id in therapist_ids:
            listed = await http.get(f"/v1/sessions?therapist_id={therapist_id}", headers=admin)
            assert listed.status_code == 200
        everything = await http.get("/v1/sessions?limit=200", headers=admin)
        sessions = everything.json()["items"]
        assert len(sessions) == 2 * ROUNDS
        for owner in ("therapist_id", "client_id"):
            for a in sessions:
                for b in sessions:
                    if a["id"] != b["id"] and a[owner] == b[owner]:
                        assert a["scheduled_end"] <= b["scheduled_start"] or (
                            b["scheduled_end"] <= a["scheduled_start"]
                        ), (owner, a, b)
