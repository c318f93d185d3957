"""The benchmark's bare twin of the summary (`bench/bare_summary.py`) answers with the same bytes
as Careplan, `generated_at` aside: the race between them is fair only while it does."""

from __future__ import annotations

import datetime as dt

import httpx
import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from bench import bare_app, bare_summary
from bench.load import comparable
from tests.summaries.conftest import SummaryClinic, add_session, at, consent, grant, sign_notes


async def test_the_bare_twin_answers_the_same_bytes(
    client: httpx.AsyncClient,
    summary_clinic: SummaryClinic,
    connection: AsyncConnection,
    sessionmaker: async_sessionmaker[AsyncSession],
    backend: str,
) -> None:
    if backend != "postgresql":
        pytest.skip("the bare twin runs on asyncpg")
    await grant(sessionmaker, consent(summary_clinic.client_id, summary_clinic.professional_id))
    async with sessionmaker() as db:  # a session signed by a user, with a measurement
        add_session(
            db,
            client_id=summary_clinic.client_id,
            therapist_id=summary_clinic.staff.therapist_id,
            plan_id=summary_clinic.plan_id,
            start=at("2030-06-01"),
            techniques=["effleurage"],
            soap={"assessment": "better", "plan": "continue"},
            measurements=[(summary_clinic.goals["pain"], "nprs", 2.5, "pre")],
        )
        await sign_notes(db, summary_clinic.staff.therapist_id)
        await db.commit()
    response = await client.get(
        f"/v1/care-plans/{summary_clinic.plan_id}/summary",
        headers=summary_clinic.staff.headers("admin"),
    )
    assert response.status_code == 200, response.text

    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    plan = await bare_summary.load_plan(driver, summary_clinic.plan_id)
    assert plan is not None
    twin = await bare_summary.care_plan_summary(driver, plan, dt.datetime.now(dt.UTC))
    body = orjson.dumps(twin, default=str, option=bare_app.OPTS)
    # the plan's context was read
    assert b'"referrals":[{' in body
    assert b'"precautions":[{' in body
    assert comparable(body) == comparable(response.content)
