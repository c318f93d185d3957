from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.session_records.conftest import START, Clinic, book
from tests.session_records.test_sessions import completion, iso


async def test_export_holds_the_whole_record(client: httpx.AsyncClient, clinic: Clinic) -> None:
    admin = clinic.staff.headers("admin")
    own = clinic.staff.headers("therapist")
    precaution = await client.post(
        f"/v1/clients/{clinic.client_id}/precautions",
        json={"category": "anticoagulants", "severity": "relative", "description": "Warfarin"},
        headers=own,
    )
    assert precaution.status_code == 201
    consent = await client.post(
        f"/v1/clients/{clinic.client_id}/consents",
        json={
            "kind": "share_with_referrer",
            "granted_on": "2030-01-01",
            "referring_professional_id": str(clinic.staff.referring_professional_id),
        },
        headers=admin,
    )
    assert consent.status_code == 201
    session = (await book(client, clinic)).json()
    await client.patch(
        f"/v1/sessions/{session['id']}", json=completion(), headers={**own, "If-Match": '"1"'}
    )
    await client.post(f"/v1/sessions/{session['id']}/sign", headers=own)
    await client.post(
        f"/v1/sessions/{session['id']}/addenda",
        json={"text": "Addendum", "reason": "late info"},
        headers=own,
    )
    archived = (
        await book(client, clinic, scheduled_start=iso(START + dt.timedelta(days=3)))
    ).json()
    assert (await client.delete(f"/v1/sessions/{archived['id']}", headers=admin)).status_code == 204

    exported = await client.get(f"/v1/clients/{clinic.client_id}/export", headers=own)
    assert exported.status_code == 200, exported.text
    doc = exported.json()
    assert doc["client"]["id"] == str(clinic.client_id)
    assert [p["description"] for p in doc["precautions"]] == ["Warfarin"]
    assert sorted(c["kind"] for c in doc["consents"]) == ["share_with_referrer", "treatment"]
    assert [r["id"] for r in doc["referrals"]] == [str(clinic.referral_id)]
    assert doc["care_plans"][0]["referral_ids"] == [str(clinic.referral_id)]
    assert [g["id"] for g in doc["care_plans"][0]["goals"]] == [str(clinic.goal_id)]
    assert [s["id"] for s in doc["sessions"]] == [session["id"], archived["id"]]
    assert doc["sessions"][0]["note_status"] == "signed"
    assert doc["sessions"][0]["addenda"][0]["text"] == "Addendum"
    assert doc["sessions"][0]["soap"]["plan"] == "Continue weekly"

    audit = await client.get(
        f"/v1/audit-events?client_id={clinic.client_id}&action=export", headers=admin
    )
    assert len(audit.json()["items"]) == 1


async def test_export_is_for_clinical_staff(client: httpx.AsyncClient, clinic: Clinic) -> None:
    url = f"/v1/clients/{clinic.client_id}/export"
    assert (await client.get(url, headers=clinic.staff.headers("front_desk"))).status_code == 403
    assert (await client.get(url, headers=clinic.staff.headers("referrer"))).status_code == 403
    assert (await client.get(url, headers=clinic.staff.headers("admin"))).status_code == 200
    missing = "/v1/clients/00000000-0000-4000-8000-000000000000/export"
    assert (await client.get(missing, headers=clinic.staff.headers("admin"))).status_code == 404


async def test_export_of_an_archived_client(client: httpx.AsyncClient, clinic: Clinic) -> None:
    admin = clinic.staff.headers("admin")
    assert (
        await client.delete(f"/v1/clients/{clinic.client_id}", headers=admin)
    ).status_code == 204
    exported = await client.get(f"/v1/clients/{clinic.client_id}/export", headers=admin)
    assert exported.status_code == 200
    assert exported.json()["client"]["archived_at"] is not None


async def test_export_queries_do_not_grow_with_sessions(
    client: httpx.AsyncClient, clinic: Clinic, connection: AsyncConnection
) -> None:
    admin = clinic.staff.headers("admin")

    async def count_queries() -> int:
        statements: list[Any] = []

        def on_execute(*args: Any) -> None:
            statements.append(args[2])

        event.listen(connection.sync_engine, "before_cursor_execute", on_execute)
        try:
            response = await client.get(f"/v1/clients/{clinic.client_id}/export", headers=admin)
            assert response.status_code == 200
        finally:
            event.remove(connection.sync_engine, "before_cursor_execute", on_execute)
        return len(statements)

    async def add_sessions(n: int, offset: int) -> None:
        for i in range(n):
            created = await book(
                client,
                clinic,
                scheduled_start=iso(START + dt.timedelta(days=offset + i)),
                measurements=[
                    {
                        "goal_id": str(clinic.goal_id),
                        "measure": "nprs",
                        "value": 4,
                        "timing": "post",
                    }
                ],
            )
            assert created.status_code == 201

    await add_sessions(5, 0)
    five = await count_queries()
    await add_sessions(95, 10)
    assert await count_queries() == five
