"""The database itself refuses to change a signed note, its measurements or any addendum."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import Uuid, bindparam, delete, insert, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import UTCDateTime, utcnow
from app.session_records.models import Addendum, Measurement, SessionRecord
from tests.session_records.conftest import Clinic, book
from tests.session_records.test_signing import completed_session


async def refused(db: AsyncSession, statement: object, message: str) -> None:
    with pytest.raises(DBAPIError, match=message):
        async with db.begin_nested():
            await db.execute(statement)  # type: ignore[call-overload]


async def test_signed_rows_cannot_change_in_the_database(
    client: httpx.AsyncClient, clinic: Clinic, db: AsyncSession
) -> None:
    own = clinic.staff.headers("therapist")
    session = await completed_session(client, clinic)
    sid = uuid.UUID(session["id"])
    assert (await client.post(f"/v1/sessions/{sid}/sign", headers=own)).status_code == 200
    added = await client.post(
        f"/v1/sessions/{sid}/addenda",
        json={"text": "late note", "reason": "phone call"},
        headers=own,
    )
    assert added.status_code == 201
    signed = "signed notes never change"
    await refused(
        db,
        update(SessionRecord).where(SessionRecord.id == sid).values(health_update="rewritten"),
        signed,
    )
    await refused(db, delete(SessionRecord).where(SessionRecord.id == sid), signed)
    await refused(
        db, update(Measurement).where(Measurement.session_id == sid).values(value=0), signed
    )
    await refused(db, delete(Measurement).where(Measurement.session_id == sid), signed)
    await refused(
        db, update(Addendum).where(Addendum.session_id == sid).values(text="x"), "append-only"
    )
    await refused(db, delete(Addendum).where(Addendum.session_id == sid), "append-only")
    after = (await client.get(f"/v1/sessions/{sid}", headers=own)).json()
    assert after["note_status"] == "signed"
    assert after["health_update"] == session["health_update"]
    assert [a["text"] for a in after["addenda"]] == ["late note"]


async def test_draft_notes_still_change(
    client: httpx.AsyncClient, clinic: Clinic, db: AsyncSession
) -> None:
    session = (await book(client, clinic)).json()
    sid = uuid.UUID(session["id"])
    async with db.begin_nested():
        await db.execute(
            update(SessionRecord).where(SessionRecord.id == sid).values(health_update="fine")
        )


def new_measurement(sid: uuid.UUID, client_id: uuid.UUID, position: int) -> object:
    return insert(Measurement).values(
        id=uuid.uuid4(),
        session_id=sid,
        client_id=client_id,
        position=position,
        measure="nprs",
        value=1,
        timing="post",
        created_at=utcnow(),
    )


async def test_no_new_measurement_in_a_signed_session(
    client: httpx.AsyncClient, clinic: Clinic, db: AsyncSession
) -> None:
    own = clinic.staff.headers("therapist")
    session = await completed_session(client, clinic)
    sid = uuid.UUID(session["id"])
    # while the note is a draft the database takes new measurements
    async with db.begin_nested():
        await db.execute(new_measurement(sid, clinic.client_id, 5))  # type: ignore[call-overload]
    assert (await client.post(f"/v1/sessions/{sid}/sign", headers=own)).status_code == 200
    await refused(db, new_measurement(sid, clinic.client_id, 6), "signed notes never change")
    await refused(
        db,
        text(
            "INSERT INTO measurements (id, session_id, client_id, position, measure, value, "
            "timing, created_at) VALUES (:id, :sid, :cid, 7, 'nprs', 0, 'pre', :at)"
        ).bindparams(
            bindparam("id", uuid.uuid4(), type_=Uuid),
            bindparam("sid", sid, type_=Uuid),
            bindparam("cid", clinic.client_id, type_=Uuid),
            bindparam("at", utcnow(), type_=UTCDateTime),
        ),
        "signed notes never change",
    )
    after = (await client.get(f"/v1/sessions/{sid}", headers=own)).json()
    assert [m["value"] for m in after["measurements"]] == [5.5, 1]


CLINICAL_TABLES = (
    "clients",
    "precautions",
    "consents",
    "referrals",
    "care_plans",
    "care_plan_referrals",
    "goals",
    "session_records",
    "measurements",
    "addenda",
    "audit_events",
)


@pytest.mark.parametrize("table", CLINICAL_TABLES)
async def test_clinical_tables_cannot_be_truncated(
    clinic: Clinic, db: AsyncSession, backend: str, table: str
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite has no TRUNCATE; its DELETE guards stand in for it")
    await refused(db, text(f"TRUNCATE {table} CASCADE"), "never truncated|append-only")
    await refused(db, text(f"TRUNCATE {table} RESTART IDENTITY CASCADE"), "never truncated|append")
    remaining = await db.scalar(text("SELECT count(*) FROM clients"))
    assert remaining == 2
