"""A clinic whose summaries were computed by hand, seeded directly with rows.

Robin Okafor has a rehabilitation plan (`plan`) linked to two referrals: one of the staff's
referring professional (`referral`, the referrer role's own) and one of another professional
(`foreign_referral`). Robin also has a second plan linked only to the foreign referral, and an
archived plan linked to the own referral. The plan's sessions cover every case a summary must
handle: pre/post ordering, cancelled, no-show, archived, upcoming and past scheduled sessions,
blank SOAP fields, and a session of another client wrongly filed on the plan.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.care_plans.models import CarePlan, Goal, care_plan_referrals
from app.clients.models import Client, Consent, Precaution
from app.directory.models import ReferringProfessional
from app.referrals.models import Referral
from app.session_records.models import Addendum, Measurement, SessionRecord
from tests.conftest import Staff

# text that must never leave the clinic in a summary
SECRETS = (
    "SUBJECTIVE-SECRET",
    "OBJECTIVE-SECRET",
    "HEALTH-UPDATE-SECRET",
    "HOME-CARE-SECRET",
    "CANCELLED-SECRET",
    "ARCHIVED-SECRET",
    "OTHER-CLIENT-SECRET",
    "OTHER-PLAN-SECRET",
    "DRAFT-SECRET",
    "PRECAUTION-SECRET",
)
EPOCH = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def at(day: str, hour: int = 9) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=dt.UTC)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass
class SummaryClinic:
    staff: Staff
    client_id: uuid.UUID
    other_client_id: uuid.UUID
    plan_id: uuid.UUID
    second_plan_id: uuid.UUID
    archived_plan_id: uuid.UUID
    referral_id: uuid.UUID
    foreign_referral_id: uuid.UUID
    foreign_professional_id: uuid.UUID
    goals: dict[str, uuid.UUID] = field(default_factory=dict)
    sessions: dict[str, uuid.UUID] = field(default_factory=dict)

    @property
    def professional_id(self) -> uuid.UUID:
        return self.staff.referring_professional_id


def add_session(
    db: AsyncSession,
    *,
    client_id: uuid.UUID,
    therapist_id: uuid.UUID,
    start: dt.datetime,
    plan_id: uuid.UUID | None,
    status: str = "completed",
    techniques: Sequence[str] = (),
    soap: dict[str, Any] | None = None,
    adverse_event: str | None = None,
    measurements: Sequence[tuple[uuid.UUID | None, str, float, str]] = (),
    archived: bool = False,
    signed: bool | None = None,
) -> SessionRecord:
    """A session row with its measurements (goal id, measure, value, timing) in that order.

    A completed session's note is signed unless `signed=False`, by `sign_notes` before the
    commit: written as a draft first, as the clinic does, since a signed note never changes."""
    session = SessionRecord(
        id=uuid.uuid4(),
        client_id=client_id,
        care_plan_id=plan_id,
        therapist_id=therapist_id,
        scheduled_start=start,
        scheduled_end=start + dt.timedelta(minutes=60),
        duration_minutes=60,
        status=status,
        session_type="therapeutic",
        body_regions=["lower_back"],
        techniques=list(techniques),
        soap=soap,
        health_update="HEALTH-UPDATE-SECRET: new medication",
        home_care="HOME-CARE-SECRET: heat twice a day",
        adverse_event=adverse_event,
        archived_at=EPOCH if archived else None,
    )
    session.measurements = [
        Measurement(
            client_id=client_id,
            goal_id=goal_id,
            position=position,
            measure=measure,
            value=value,
            timing=timing,
        )
        for position, (goal_id, measure, value, timing) in enumerate(measurements)
    ]
    db.add(session)
    if signed if signed is not None else status == "completed":
        db.info.setdefault(TO_SIGN, []).append(session)
    return session


TO_SIGN = "summary-tests-to-sign"
SIGNED_AT = dt.datetime(2030, 6, 1, 12, tzinfo=dt.UTC)


async def sign_notes(db: AsyncSession, signer: uuid.UUID) -> None:
    """Signs the notes `add_session` left to sign, after writing them."""
    await db.flush()
    for session in db.info.pop(TO_SIGN, []):
        session.note_status = "signed"
        session.signed_at = SIGNED_AT
        session.signed_by = signer
    await db.flush()


def consent(
    client_id: uuid.UUID,
    professional_id: uuid.UUID,
    *,
    granted_on: dt.date | None = None,
    expires_on: dt.date | None = None,
    revoked: bool = False,
    kind: str = "share_with_referrer",
) -> Consent:
    today = dt.datetime.now(dt.UTC).date()
    return Consent(
        client_id=client_id,
        kind=kind,
        referring_professional_id=professional_id,
        granted_on=granted_on or today - dt.timedelta(days=30),
        expires_on=expires_on,
        revoked_at=dt.datetime.now(dt.UTC) if revoked else None,
    )


async def grant(
    sessionmaker: async_sessionmaker[AsyncSession], *consents: Consent
) -> list[uuid.UUID]:
    async with sessionmaker() as db:
        db.add_all(consents)
        await db.commit()
        return [c.id for c in consents]


@pytest.fixture
async def summary_clinic(
    sessionmaker: async_sessionmaker[AsyncSession], staff: Staff
) -> SummaryClinic:
    async with sessionmaker() as db:
        client = Client(
            given_name="Robin", family_name="Okafor", date_of_birth=dt.date(1980, 5, 17)
        )
        other = Client(given_name="Kim", family_name="Other")
        foreign = ReferringProfessional(full_name="Dr. Someone Else", discipline="oncology")
        db.add_all([client, other, foreign])
        await db.flush()
        referral = Referral(
            client_id=client.id,
            referring_professional_id=staff.referring_professional_id,
            received_on=dt.date(2030, 1, 10),
            reason="Low back pain after lifting",
            diagnosis_codes=["M54.50"],
            diagnosis_text="Low back pain, unspecified",
            authorized_sessions=10,
            valid_until=dt.date(2030, 6, 30),
            precautions_note="PRECAUTION-SECRET note of the referral",
            status="accepted",
        )
        db.add_all(
            [
                Precaution(
                    client_id=client.id,
                    category="dvt",
                    severity="absolute",
                    body_regions=["legs"],
                    description="PRECAUTION-SECRET left calf",
                    requires_clearance=True,
                    clearance_referring_professional_id=foreign.id,
                    cleared_on=dt.date(2030, 2, 1),
                    created_at=EPOCH,
                ),
                Precaution(
                    client_id=client.id,
                    category="skin_condition",
                    severity="local",
                    body_regions=["feet"],
                    description="PRECAUTION-SECRET eczema",
                    created_at=EPOCH + dt.timedelta(minutes=1),
                ),
                Precaution(
                    client_id=client.id,
                    category="recent_surgery",
                    severity="relative",
                    status="resolved",
                    description="PRECAUTION-SECRET resolved",
                    created_at=EPOCH + dt.timedelta(minutes=2),
                ),
                Precaution(
                    client_id=other.id,
                    category="cancer",
                    severity="relative",
                    description="PRECAUTION-SECRET of another client",
                ),
            ]
        )
        foreign_referral = Referral(
            client_id=client.id,
            referring_professional_id=foreign.id,
            received_on=dt.date(2030, 1, 12),
            status="accepted",
        )
        plan = CarePlan(
            client_id=client.id,
            primary_therapist_id=staff.therapist_id,
            title="Low back rehabilitation",
            kind="rehabilitation",
            status="active",
            start_date=dt.date(2030, 3, 1),
            end_date=dt.date(2030, 6, 30),
            planned_sessions=10,
            created_at=EPOCH,
        )
        second = CarePlan(
            # an id sorting before any uuid4: plans are listed by creation, never by id
            id=uuid.UUID("00000000-0000-4000-8000-000000000001"),
            client_id=client.id,
            title="Shoulder mobility",
            kind="therapeutic",
            status="active",
            created_at=EPOCH + dt.timedelta(days=1),
        )
        archived = CarePlan(
            client_id=client.id,
            title="Archived plan",
            kind="wellness",
            status="draft",
            archived_at=EPOCH,
            created_at=EPOCH + dt.timedelta(days=2),
        )
        db.add_all([referral, foreign_referral, plan, second, archived])
        await db.flush()
        await db.execute(
            care_plan_referrals.insert(),
            [
                {"care_plan_id": plan.id, "referral_id": referral.id},
                {"care_plan_id": plan.id, "referral_id": foreign_referral.id},
                {"care_plan_id": second.id, "referral_id": foreign_referral.id},
                {"care_plan_id": archived.id, "referral_id": referral.id},
            ],
        )

        def goal(n: int, description: str, measure: str, **values: Any) -> Goal:
            return Goal(
                care_plan_id=plan.id,
                description=description,
                measure=measure,
                status=values.pop("status", "active"),
                created_at=EPOCH + dt.timedelta(minutes=n),
                **values,
            )

        goals = {
            "pain": goal(1, "Pain below 3/10", "nprs", baseline_value=7, target_value=2),
            "walk": goal(2, "Walk 4 km", "custom", unit="km", baseline_value=0, target_value=4),
            "hip": goal(
                3, "Hip flexion to 120", "rom", unit="degrees", baseline_value=90, target_value=120
            ),
            "sleep": goal(4, "Sleep through the night", "psfs", baseline_value=3, target_value=8),
            "sit": goal(5, "Sit for an hour", "custom", unit="min", target_value=60),
            "odi": goal(6, "Keep ODI at 20", "odi", baseline_value=20, target_value=20),
            "gone": goal(7, "Archived goal", "nprs", baseline_value=5, target_value=1),
        }
        goals["gone"].archived_at = EPOCH
        db.add_all(goals.values())
        await db.flush()
        g = {name: row.id for name, row in goals.items()}

        def own(start: dt.datetime, **details: Any) -> SessionRecord:
            return add_session(
                db,
                client_id=client.id,
                therapist_id=staff.therapist_id,
                plan_id=plan.id,
                start=start,
                **details,
            )

        sessions = {
            "s1": own(
                at("2030-03-04"),
                techniques=["myofascial release", "trigger point"],
                soap={
                    "subjective": "SUBJECTIVE-SECRET one",
                    "objective": "OBJECTIVE-SECRET one",
                    "assessment": "Lumbar tension easing",
                    "plan": "Continue weekly; add hip work",
                },
                adverse_event="Mild soreness for a day",
                measurements=[
                    (g["pain"], "nprs", 7, "pre"),
                    (g["hip"], "rom", 88, "pre"),
                    (g["pain"], "nprs", 6, "post"),
                    (g["walk"], "custom", 0.05, "post"),
                ],
            ),
            "s2": own(
                at("2030-03-11"),
                techniques=["myofascial release", "myofascial release", "stretching"],
                soap={
                    "subjective": "SUBJECTIVE-SECRET two",
                    "objective": "OBJECTIVE-SECRET two",
                    "assessment": "Pain reduced; hip flexion limited",
                },
                adverse_event="   ",
                # recorded post first: the summary orders pre before post all the same
                measurements=[
                    (g["pain"], "nprs", 4, "post"),
                    (g["pain"], "nprs", 5, "pre"),
                    (g["walk"], "custom", 0.13, "pre"),
                    (g["hip"], "rom", 85, "post"),
                    (g["sit"], "custom", 30, "pre"),
                    (g["odi"], "odi", 18, "pre"),
                    (None, "nprs", 6, "pre"),
                ],
            ),
            "s12": own(
                at("2030-03-14"),
                soap={"assessment": "", "plan": "   ", "subjective": "SUBJECTIVE-SECRET three"},
            ),
            "s3": own(
                at("2030-03-18"),
                status="cancelled",
                techniques=["hot stones"],
                adverse_event="CANCELLED-SECRET adverse",
                soap={"assessment": "CANCELLED-SECRET assessment"},
                measurements=[(g["pain"], "nprs", 0, "pre")],
            ),
            "s4": own(
                at("2030-03-25"),
                archived=True,
                techniques=["cupping"],
                adverse_event="ARCHIVED-SECRET adverse",
                soap={"assessment": "ARCHIVED-SECRET", "plan": "ARCHIVED-SECRET"},
                measurements=[(g["pain"], "nprs", 1, "post")],
            ),
            "s5": own(at("2030-04-01"), status="no_show"),
            "s6": own(at("2099-01-05"), status="scheduled"),
            "s7": own(at("2020-01-06"), status="scheduled"),
            # another client's session filed on this plan by mistake: never shown
            "s8": add_session(
                db,
                client_id=other.id,
                therapist_id=staff.therapist_id,
                plan_id=plan.id,
                start=at("2030-03-20"),
                techniques=["OTHER-CLIENT-SECRET technique"],
                adverse_event="OTHER-CLIENT-SECRET adverse",
                soap={"assessment": "OTHER-CLIENT-SECRET", "plan": "OTHER-CLIENT-SECRET"},
                measurements=[(g["pain"], "nprs", 0, "post")],
            ),
            # a completed session whose note is still a draft: counted, never shown
            "s11": own(
                at("2030-04-08"),
                signed=False,
                techniques=["DRAFT-SECRET technique"],
                adverse_event="DRAFT-SECRET adverse",
                soap={"assessment": "DRAFT-SECRET Improving.", "plan": "DRAFT-SECRET plan"},
                measurements=[(g["pain"], "nprs", 1, "pre"), (g["pain"], "nprs", 0, "post")],
            ),
            # the second plan's and a standalone session: not this plan's
            "s9": add_session(
                db,
                client_id=client.id,
                therapist_id=staff.therapist_id,
                plan_id=second.id,
                start=at("2030-03-15"),
                techniques=["OTHER-PLAN-SECRET technique"],
                soap={"assessment": "OTHER-PLAN-SECRET"},
                measurements=[(None, "nprs", 9, "pre")],
            ),
            "s10": add_session(
                db,
                client_id=client.id,
                therapist_id=staff.therapist_id,
                plan_id=None,
                start=at("2030-03-16"),
                soap={"assessment": "OTHER-PLAN-SECRET standalone"},
            ),
        }
        await sign_notes(db, staff.therapist_id)
        db.add_all(
            Addendum(
                session_id=sessions["s1"].id,
                author_type="user",
                author_id=staff.therapist_id,
                text=f"Correction {n}",
                reason="Typo",
            )
            for n in (1, 2)
        )
        await db.commit()
        return SummaryClinic(
            staff=staff,
            client_id=client.id,
            other_client_id=other.id,
            plan_id=plan.id,
            second_plan_id=second.id,
            archived_plan_id=archived.id,
            referral_id=referral.id,
            foreign_referral_id=foreign_referral.id,
            foreign_professional_id=foreign.id,
            goals=g,
            sessions={name: row.id for name, row in sessions.items()},
        )
