"""A clinic for the FHIR facade, seeded as rows: two clients, each with a referral, a care plan
with goals, sessions of every status and measurements; the first shares its record with the
staff's referring professional, the second does not."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.care_plans.models import CarePlan, Goal, care_plan_referrals
from app.clients.models import Client, Consent
from app.directory.models import ReferringProfessional, Therapist
from app.referrals.models import Referral
from app.session_records.models import Measurement, SessionRecord
from tests.conftest import Staff

START = dt.datetime(2030, 3, 4, 9, 0, tzinfo=dt.UTC)


@dataclass
class FhirClinic:
    staff: Staff
    client_id: uuid.UUID
    other_client_id: uuid.UUID
    therapist_id: uuid.UUID
    referring_professional_id: uuid.UUID
    referral_id: uuid.UUID
    other_referral_id: uuid.UUID
    consent_id: uuid.UUID
    plan_id: uuid.UUID
    other_plan_id: uuid.UUID
    pain_goal_id: uuid.UUID
    odi_goal_id: uuid.UUID
    sessions: dict[str, uuid.UUID]  # by status
    other_session_id: uuid.UUID
    measurements: dict[str, uuid.UUID]  # "pain_pre", "pain_post", "odi", "rom", "custom"
    other_measurement_id: uuid.UUID
    extra: dict[str, Any] = field(default_factory=dict)

    def headers(self, role: str) -> dict[str, str]:
        return self.staff.headers(role)


def _session(
    client_id: uuid.UUID,
    plan_id: uuid.UUID | None,
    therapist_id: uuid.UUID,
    start: dt.datetime,
    status: str,
) -> SessionRecord:
    return SessionRecord(
        client_id=client_id,
        care_plan_id=plan_id,
        therapist_id=therapist_id,
        scheduled_start=start,
        scheduled_end=start + dt.timedelta(minutes=60),
        duration_minutes=60,
        status=status,
        session_type="therapeutic",
        body_regions=["lower_back"],
    )


@pytest.fixture
async def fhir_clinic(sessionmaker: async_sessionmaker[AsyncSession], staff: Staff) -> FhirClinic:
    async with sessionmaker() as db:
        therapist = await db.get(Therapist, staff.therapist_id)
        professional = await db.get(ReferringProfessional, staff.referring_professional_id)
        assert therapist is not None
        assert professional is not None
        therapist.email = "ada@clinic.example"
        therapist.phone = "+1 555 0111"
        therapist.license_number = "MT-4242"
        therapist.license_region = "Ontario"
        therapist.license_expires_on = dt.date(2031, 12, 31)
        therapist.credentials = ["RMT"]
        therapist.certifications = ["prenatal", "lymphatic_drainage"]
        professional.registration_number = "PT-778"
        professional.organization = "Riverside Physio"
        professional.phone = "+1 555 0200"
        professional.fax = "+1 555 0201"
        professional.email = "pat@physio.example"

        client = Client(
            given_name="Robin",
            family_name="Okafor",
            date_of_birth=dt.date(1985, 4, 12),
            email="robin@example.org",
            phone="+1 555 0100",
            address="12 Elm Street, Springfield",
            emergency_contact={
                "name": "Alex Okafor",
                "phone": "+1 555 0101",
                "relationship": "partner",
            },
        )
        other = Client(given_name="Kim", family_name="Other")
        db.add_all([client, other])
        await db.flush()

        referral = Referral(
            client_id=client.id,
            referring_professional_id=professional.id,
            received_on=dt.date(2030, 1, 10),
            reason="Chronic low back pain",
            diagnosis_codes=["M54.5"],
            diagnosis_text="Low back pain",
            authorized_sessions=6,
            valid_until=dt.date(2030, 6, 30),
            precautions_note="Avoid deep pressure on the lumbar spine",
            status="accepted",
        )
        # the other client was referred by the same professional, but shares nothing
        other_referral = Referral(
            client_id=other.id,
            referring_professional_id=professional.id,
            received_on=dt.date(2030, 1, 11),
            diagnosis_codes=["M54.2", "G44.2"],
            diagnosis_text="Neck pain and tension headache",
            status="pending",
        )
        consent = Consent(
            client_id=client.id,
            kind="share_with_referrer",
            referring_professional_id=professional.id,
            granted_on=dt.date(2020, 1, 1),
        )
        plan = CarePlan(
            client_id=client.id,
            primary_therapist_id=therapist.id,
            title="Low back rehabilitation",
            kind="rehabilitation",
            status="active",
            start_date=dt.date(2030, 3, 1),
            end_date=dt.date(2030, 5, 31),
            planned_sessions=6,
            sessions_per_week=1.5,
            coordinated_care=[
                {
                    "referring_professional_id": str(professional.id),
                    "discipline": "physical_therapy",
                    "description": "Physical therapy twice a week",
                }
            ],
            notes="Coordinate with the physiotherapist",
        )
        other_plan = CarePlan(
            client_id=other.id, title="Neck relief", kind="therapeutic", status="draft"
        )
        db.add_all([referral, other_referral, consent, plan, other_plan])
        await db.flush()
        await db.execute(
            care_plan_referrals.insert().values(care_plan_id=plan.id, referral_id=referral.id)
        )
        pain_goal = Goal(
            care_plan_id=plan.id,
            description="Pain below 3/10",
            measure="nprs",
            baseline_value=7,
            target_value=2,
            target_date=dt.date(2030, 5, 31),
            status="active",
        )
        odi_goal = Goal(
            care_plan_id=plan.id,
            description="Less disability",
            measure="odi",
            unit="%",
            baseline_value=40,
            target_value=20,
            status="proposed",
        )
        db.add_all([pain_goal, odi_goal])
        sessions = {
            status: _session(
                client.id, plan.id, therapist.id, START + dt.timedelta(days=7 * n), status
            )
            for n, status in enumerate(["completed", "scheduled", "cancelled", "no_show"])
        }
        other_session = _session(other.id, other_plan.id, therapist.id, START, "completed")
        db.add_all([*sessions.values(), other_session])
        await db.flush()

        done = sessions["completed"]

        def measure(position: int, **values: Any) -> Measurement:
            return Measurement(session_id=done.id, client_id=client.id, position=position, **values)

        measurements = {
            "pain_pre": measure(0, goal_id=pain_goal.id, measure="nprs", value=6, timing="pre"),
            "pain_post": measure(1, goal_id=pain_goal.id, measure="nprs", value=3, timing="post"),
            "odi": measure(2, goal_id=odi_goal.id, measure="odi", value=36, unit="%", timing="pre"),
            "rom": measure(3, measure="rom", value=75, unit="degrees", timing="post"),
            "custom": measure(4, measure="custom", value=12, unit="steps", timing="post"),
        }
        other_measurement = Measurement(
            session_id=other_session.id,
            client_id=other.id,
            position=0,
            measure="nprs",
            value=5,
            timing="pre",
        )
        db.add_all([*measurements.values(), other_measurement])
        await db.flush()
        # the completed session's note is signed (what a referrer may see of sessions)
        done.note_status = "signed"
        done.signed_at = START + dt.timedelta(hours=2)
        await db.commit()
        return FhirClinic(
            staff=staff,
            client_id=client.id,
            other_client_id=other.id,
            therapist_id=therapist.id,
            referring_professional_id=professional.id,
            referral_id=referral.id,
            other_referral_id=other_referral.id,
            consent_id=consent.id,
            plan_id=plan.id,
            other_plan_id=other_plan.id,
            pain_goal_id=pain_goal.id,
            odi_goal_id=odi_goal.id,
            sessions={status: row.id for status, row in sessions.items()},
            other_session_id=other_session.id,
            measurements={name: row.id for name, row in measurements.items()},
            other_measurement_id=other_measurement.id,
        )


class QueryCounter:
    """Counts the SQL statements run, savepoints and transaction control left out."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, *args: Any) -> None:
        statement = str(args[2]).strip().upper()
        if not statement.startswith(("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT")):
            self.statements.append(statement)

    @property
    def count(self) -> int:
        return len(self.statements)

    def reset(self) -> None:
        self.statements.clear()


@pytest.fixture
def queries(engine: AsyncEngine) -> Iterator[QueryCounter]:
    counter = QueryCounter()
    event.listen(engine.sync_engine, "before_cursor_execute", counter)
    try:
        yield counter
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", counter)


@pytest.fixture
async def rows(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session for changing seeded rows inside a test."""
    async with sessionmaker() as db:
        yield db
