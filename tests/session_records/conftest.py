"""A small clinic for session tests: a client (with a treatment consent), two therapists, a
plan with a goal. Sessions start in the past, so they can be completed."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.care_plans.models import CarePlan, Goal, care_plan_referrals
from app.clients.models import Client, Consent
from app.directory.models import Therapist
from app.referrals.models import Referral
from tests.conftest import Staff

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@dataclass
class Clinic:
    client_id: uuid.UUID
    other_client_id: uuid.UUID
    therapist_id: uuid.UUID  # the therapist role's own therapist (from the staff fixture)
    colleague_id: uuid.UUID
    plan_id: uuid.UUID
    goal_id: uuid.UUID
    referral_id: uuid.UUID
    staff: Staff
    treatment_consent_id: uuid.UUID

    def session(self, **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "client_id": str(self.client_id),
            "care_plan_id": str(self.plan_id),
            "therapist_id": str(self.therapist_id),
            "scheduled_start": START.isoformat().replace("+00:00", "Z"),
            "duration_minutes": 60,
            "session_type": "therapeutic",
            "body_regions": ["lower_back", "hips"],
        }
        body.update(overrides)
        return body


@pytest.fixture
async def clinic(sessionmaker: async_sessionmaker[AsyncSession], staff: Staff) -> Clinic:
    async with sessionmaker() as db:
        own = await db.get(Therapist, staff.therapist_id)
        assert own is not None
        own.license_expires_on = dt.date(2031, 1, 1)
        colleague = Therapist(
            full_name="Cal Colleague",
            license_expires_on=dt.date(2031, 1, 1),
            certifications=["prenatal", "oncology"],
            credentials=["LMT"],
        )
        client = Client(given_name="Robin", family_name="Okafor")
        other = Client(given_name="Kim", family_name="Other")
        db.add_all([colleague, client, other])
        await db.flush()
        referral = Referral(
            client_id=client.id,
            referring_professional_id=staff.referring_professional_id,
            received_on=dt.date(2026, 1, 10),
            authorized_sessions=3,
            valid_until=dt.date(2026, 6, 30),
            status="accepted",
        )
        plan = CarePlan(
            client_id=client.id,
            primary_therapist_id=staff.therapist_id,
            title="Low back rehabilitation",
            kind="rehabilitation",
            status="active",
        )
        treatment = Consent(client_id=client.id, kind="treatment", granted_on=dt.date(2026, 1, 5))
        db.add_all([referral, plan, treatment])
        await db.flush()
        await db.execute(
            care_plan_referrals.insert().values(care_plan_id=plan.id, referral_id=referral.id)
        )
        goal = Goal(
            care_plan_id=plan.id,
            description="Pain below 3/10",
            measure="nprs",
            baseline_value=7,
            target_value=2,
            status="active",
        )
        db.add(goal)
        await db.commit()
        return Clinic(
            client.id,
            other.id,
            staff.therapist_id,
            colleague.id,
            plan.id,
            goal.id,
            referral.id,
            staff,
            treatment.id,
        )


async def book(
    client: httpx.AsyncClient, clinic: Clinic, role: str = "therapist", **overrides: Any
) -> httpx.Response:
    return await client.post(
        "/v1/sessions", json=clinic.session(**overrides), headers=clinic.staff.headers(role)
    )
