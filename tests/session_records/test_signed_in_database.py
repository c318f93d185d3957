"""The database itself refuses to change a signed note, its measurements or any addendum."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import delete, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

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
