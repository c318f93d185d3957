"""Rows written straight into the database, for tests that need a world the API would take many
requests to build."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.session_records.models import Measurement, SessionRecord


async def measured_session(
    db: AsyncSession,
    *,
    client_id: uuid.UUID,
    care_plan_id: uuid.UUID,
    therapist_id: uuid.UUID,
    goal_id: uuid.UUID | None,
    start: dt.datetime,
    minutes: int,
    session_type: str,
    measure: str,
    value: float,
    timing: str,
) -> tuple[SessionRecord, Measurement]:
    """A completed session (its note still a draft) with one measurement, flushed."""
    session = SessionRecord(
        client_id=client_id,
        care_plan_id=care_plan_id,
        therapist_id=therapist_id,
        scheduled_start=start,
        scheduled_end=start + dt.timedelta(minutes=minutes),
        duration_minutes=minutes,
        status="completed",
        session_type=session_type,
    )
    db.add(session)
    await db.flush()
    measured = Measurement(
        session_id=session.id,
        client_id=client_id,
        goal_id=goal_id,
        position=0,
        measure=measure,
        value=value,
        timing=timing,
    )
    db.add(measured)
    await db.flush()
    return session, measured
