"""Every route of the app, for every role, against an explicit rule table.

A route without a rule fails `test_every_route_has_a_rule`; a role let through where the table
says no (or refused where it says yes) fails `test_route_answers_each_role_by_the_table`.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.routing import Route

from app.auth.models import User
from app.care_plans.models import CarePlan, Goal, care_plan_referrals
from app.clients.models import Client, Consent, Precaution
from app.core.config import Settings
from app.core.security import Role
from app.directory.models import ReferringProfessional, Therapist
from app.events.models import Event, Webhook, WebhookDelivery
from app.main import create_app
from app.referrals.models import Referral
from app.session_records.models import Measurement, SessionRecord
from tests.conftest import Staff
from tests.rows import measured_session

A, T, F, R = Role.admin, Role.therapist, Role.front_desk, Role.referrer
PUBLIC = frozenset({"public"})
ADMIN = frozenset({A})
STAFF = frozenset({A, T, F})
CLINICAL = frozenset({A, T})
DESK = frozenset({A, F})
EVERYONE = frozenset({A, T, F, R})
REFERRER_READS = frozenset({A, T, R})

RULES: dict[tuple[str, str], frozenset[object]] = {
    # operations and documentation
    ("GET", "/v1/health"): PUBLIC,
    ("GET", "/v1/health/ready"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("GET", "/"): PUBLIC,
    ("POST", "/v1/auth/token"): PUBLIC,
    # administration
    ("POST", "/v1/users"): ADMIN,
    ("GET", "/v1/users"): ADMIN,
    ("GET", "/v1/users/{user_id}"): ADMIN,
    ("PATCH", "/v1/users/{user_id}"): ADMIN,
    ("POST", "/v1/api-keys"): ADMIN,
    ("GET", "/v1/api-keys"): ADMIN,
    ("GET", "/v1/api-keys/{key_id}"): ADMIN,
    ("DELETE", "/v1/api-keys/{key_id}"): ADMIN,
    ("GET", "/v1/audit-events"): ADMIN,
    ("GET", "/v1/export"): ADMIN,
    # directories
    ("POST", "/v1/therapists"): DESK,
    ("GET", "/v1/therapists"): STAFF,
    ("GET", "/v1/therapists/{entry_id}"): STAFF,
    ("PATCH", "/v1/therapists/{entry_id}"): DESK,
    ("DELETE", "/v1/therapists/{entry_id}"): DESK,
    ("POST", "/v1/referring-professionals"): DESK,
    ("GET", "/v1/referring-professionals"): STAFF,
    ("GET", "/v1/referring-professionals/{entry_id}"): STAFF,
    ("PATCH", "/v1/referring-professionals/{entry_id}"): DESK,
    ("DELETE", "/v1/referring-professionals/{entry_id}"): DESK,
    # clients, precautions, consents
    ("POST", "/v1/clients"): STAFF,
    ("GET", "/v1/clients"): STAFF,
    ("GET", "/v1/clients/{client_id}"): STAFF,
    ("PATCH", "/v1/clients/{client_id}"): STAFF,
    ("DELETE", "/v1/clients/{client_id}"): STAFF,
    ("GET", "/v1/clients/{client_id}/export"): CLINICAL,
    ("GET", "/v1/clients/{client_id}/precautions"): STAFF,
    ("POST", "/v1/clients/{client_id}/precautions"): CLINICAL,
    ("GET", "/v1/precautions/{precaution_id}"): STAFF,
    ("PATCH", "/v1/precautions/{precaution_id}"): CLINICAL,
    ("POST", "/v1/precautions/{precaution_id}/clearance"): CLINICAL,
    ("GET", "/v1/clients/{client_id}/consents"): STAFF,
    ("POST", "/v1/clients/{client_id}/consents"): STAFF,
    ("GET", "/v1/consents/{consent_id}"): STAFF,
    ("POST", "/v1/consents/{consent_id}/revoke"): STAFF,
    # referrals: the referrer files its own and reads its own
    ("POST", "/v1/referrals"): EVERYONE,
    ("GET", "/v1/referrals"): EVERYONE,
    ("GET", "/v1/referrals/{referral_id}"): EVERYONE,
    ("PATCH", "/v1/referrals/{referral_id}"): STAFF,
    ("DELETE", "/v1/referrals/{referral_id}"): STAFF,
    # care plans and goals
    ("POST", "/v1/care-plans"): CLINICAL,
    ("GET", "/v1/care-plans"): STAFF,
    ("GET", "/v1/care-plans/{care_plan_id}"): STAFF,
    ("PATCH", "/v1/care-plans/{care_plan_id}"): CLINICAL,
    ("DELETE", "/v1/care-plans/{care_plan_id}"): CLINICAL,
    ("GET", "/v1/care-plans/{care_plan_id}/goals"): CLINICAL,
    ("POST", "/v1/care-plans/{care_plan_id}/goals"): CLINICAL,
    ("GET", "/v1/goals/{goal_id}"): CLINICAL,
    ("PATCH", "/v1/goals/{goal_id}"): CLINICAL,
    # sessions
    ("POST", "/v1/sessions"): STAFF,
    ("GET", "/v1/sessions"): STAFF,
    ("GET", "/v1/sessions/{session_id}"): STAFF,
    ("PATCH", "/v1/sessions/{session_id}"): STAFF,
    # the world's session is completed: not the front desk's to archive
    ("DELETE", "/v1/sessions/{session_id}"): CLINICAL,
    # signing is a person's: the keys here are API keys, and an admin key is no person
    ("POST", "/v1/sessions/{session_id}/sign"): frozenset({T}),
    ("POST", "/v1/sessions/{session_id}/addenda"): CLINICAL,
    # summaries for referring practitioners
    ("GET", "/v1/care-plans/{care_plan_id}/summary"): REFERRER_READS,
    ("GET", "/v1/referrals/{referral_id}/summary"): REFERRER_READS,
    # the FHIR facade: the referrer reads the records of clients who share them with it
    ("GET", "/fhir/R4/metadata"): PUBLIC,
    ("GET", "/fhir/R4/Patient/{resource_id}"): EVERYONE,
    ("GET", "/fhir/R4/Practitioner/{resource_id}"): STAFF,
    ("GET", "/fhir/R4/ServiceRequest/{resource_id}"): REFERRER_READS,
    ("GET", "/fhir/R4/CarePlan/{resource_id}"): REFERRER_READS,
    ("GET", "/fhir/R4/Goal/{resource_id}"): REFERRER_READS,
    ("GET", "/fhir/R4/Encounter/{resource_id}"): REFERRER_READS,
    ("GET", "/fhir/R4/Observation/{resource_id}"): REFERRER_READS,
    ("GET", "/fhir/R4/CarePlan"): REFERRER_READS,
    ("GET", "/fhir/R4/Encounter"): REFERRER_READS,
    ("GET", "/fhir/R4/Observation"): REFERRER_READS,
    # events and webhooks
    ("GET", "/v1/events"): ADMIN,
    ("POST", "/v1/webhooks"): ADMIN,
    ("GET", "/v1/webhooks"): ADMIN,
    ("GET", "/v1/webhooks/{webhook_id}"): ADMIN,
    ("PATCH", "/v1/webhooks/{webhook_id}"): ADMIN,
    ("DELETE", "/v1/webhooks/{webhook_id}"): ADMIN,
    ("GET", "/v1/webhooks/{webhook_id}/deliveries"): ADMIN,
    ("POST", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry"): ADMIN,
    ("GET", "/fhir/R4/Patient"): EVERYONE,
}


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    found = set()
    for route in app.routes:
        if isinstance(route, APIRoute | Route):
            for method in (route.methods or set()) - {"HEAD", "OPTIONS"}:
                found.add((method, route.path))
    return found


def test_every_route_has_a_rule(settings: Settings) -> None:
    routes = app_routes(create_app(settings))
    assert routes - RULES.keys() == set(), "routes without a rule in RULES"
    assert RULES.keys() - routes == set(), "rules for routes the app does not serve"


@dataclass
class World:
    ids: dict[str, uuid.UUID]


async def build_world(maker: async_sessionmaker[AsyncSession], staff: Staff) -> World:
    """One of everything, owned so that the referrer may see what its rules allow."""
    async with maker() as db:
        therapist = await db.get(Therapist, staff.therapist_id)
        assert therapist is not None
        therapist.license_expires_on = dt.date(2035, 1, 1)
        client = Client(given_name="Rule", family_name="Walker")
        spare_rp = ReferringProfessional(full_name="Dr. Spare", discipline="oncology")
        db.add_all([client, spare_rp])
        await db.flush()
        precaution = Precaution(
            client_id=client.id,
            category="allergy",
            severity="relative",
            body_regions=[],
            status="active",
            requires_clearance=False,
        )
        consent = Consent(
            client_id=client.id,
            kind="share_with_referrer",
            referring_professional_id=staff.referring_professional_id,
            granted_on=dt.date(2020, 1, 1),
        )
        referral = Referral(
            client_id=client.id,
            referring_professional_id=staff.referring_professional_id,
            received_on=dt.date(2030, 1, 1),
            status="accepted",  # a referrer reads what the clinic has accepted, never pending
        )
        plan = CarePlan(
            client_id=client.id,
            primary_therapist_id=therapist.id,
            title="Plan",
            kind="therapeutic",
            status="active",
        )
        db.add_all([precaution, consent, referral, plan])
        await db.flush()
        await db.execute(
            care_plan_referrals.insert().values(care_plan_id=plan.id, referral_id=referral.id)
        )
        goal = Goal(
            care_plan_id=plan.id,
            description="Less pain",
            measure="nprs",
            baseline_value=6,
            target_value=2,
            status="active",
        )
        db.add(goal)
        await db.flush()
        session, measurement = await measured_session(
            db,
            client_id=client.id,
            care_plan_id=plan.id,
            therapist_id=therapist.id,
            goal_id=goal.id,
            start=dt.datetime(2030, 2, 1, 9, tzinfo=dt.UTC),
            minutes=60,
            session_type="therapeutic",
            measure="nprs",
            value=4,
            timing="post",
        )
        fhir = await build_fhir_rows(db, client, plan, goal, therapist, staff)
        user = User(
            email="someone@clinic.example",
            password_hash="x",
            display_name="Someone",
            role="front_desk",
        )
        db.add(user)
        webhook = Webhook(
            url="https://hooks.example.com/",
            event_types=["client.created"],
            secret="whsec_" + "A" * 32,
        )
        event = Event(type="client.created", resource_type="client", resource_id=client.id, data={})
        db.add_all([webhook, event])
        await db.flush()
        delivery = WebhookDelivery(
            webhook_id=webhook.id,
            event_id=event.id,
            event_type=event.type,
            deadline_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
            state="failed",
        )
        db.add(delivery)
        await db.commit()
        return World(
            {
                "client": client.id,
                "precaution": precaution.id,
                "consent": consent.id,
                "referral": referral.id,
                "care_plan": plan.id,
                "goal": goal.id,
                "session": session.id,
                "measurement": measurement.id,
                "therapist": therapist.id,
                "referring_professional": spare_rp.id,
                "user": user.id,
                # a key nobody in the test uses, so revoking it locks no one out
                "key": staff.key_ids[Role.front_desk],
                "webhook": webhook.id,
                "delivery": delivery.id,
                **fhir,
            }
        )


async def build_fhir_rows(
    db: AsyncSession,
    client: Client,
    plan: CarePlan,
    goal: Goal,
    therapist: Therapist,
    staff: Staff,
) -> dict[str, uuid.UUID]:
    """What a referrer may see through FHIR: an accepted referral of its own linked to the
    plan, and a signed session of the plan with a measurement (CONTRACT §9)."""
    referral = Referral(
        client_id=client.id,
        referring_professional_id=staff.referring_professional_id,
        received_on=dt.date(2030, 1, 2),
        status="accepted",
    )
    start = dt.datetime(2030, 2, 8, 9, tzinfo=dt.UTC)
    session = SessionRecord(
        client_id=client.id,
        care_plan_id=plan.id,
        therapist_id=therapist.id,
        scheduled_start=start,
        scheduled_end=start + dt.timedelta(hours=1),
        duration_minutes=60,
        session_type="therapeutic",
        status="completed",
    )
    db.add_all([referral, session])
    await db.flush()
    await db.execute(
        care_plan_referrals.insert().values(care_plan_id=plan.id, referral_id=referral.id)
    )
    measurement = Measurement(
        session_id=session.id,
        client_id=client.id,
        goal_id=goal.id,
        position=0,
        measure="nprs",
        value=3,
        timing="post",
    )
    db.add(measurement)
    await db.flush()
    session.note_status = "signed"
    session.signed_at = start + dt.timedelta(hours=2)
    return {
        "fhir_referral": referral.id,
        "fhir_session": session.id,
        "fhir_measurement": measurement.id,
    }


PARAMS = {
    "client_id": "client",
    "precaution_id": "precaution",
    "consent_id": "consent",
    "referral_id": "referral",
    "care_plan_id": "care_plan",
    "goal_id": "goal",
    "session_id": "session",
    "user_id": "user",
    "key_id": "key",
    "webhook_id": "webhook",
    "delivery_id": "delivery",
}
FHIR_TYPES = {
    "Patient": "client",
    "Practitioner": "therapist",
    "ServiceRequest": "fhir_referral",
    "CarePlan": "care_plan",
    "Goal": "goal",
    "Encounter": "fhir_session",
    "Observation": "fhir_measurement",
}


def concrete_url(path: str, world: World) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in PARAMS:
            return str(world.ids[PARAMS[name]])
        if path.startswith("/v1/therapists/"):
            return str(world.ids["therapist"])
        if path.startswith("/v1/referring-professionals/"):
            return str(world.ids["referring_professional"])
        fhir = re.match(r"^/fhir/R4/(\w+)/", path)
        if fhir and fhir.group(1) in FHIR_TYPES:
            return str(world.ids[FHIR_TYPES[fhir.group(1)]])
        raise AssertionError(f"no value for path parameter {name} of {path}")

    url = re.sub(r"\{(\w+)\}", fill, path)
    fhir_search = re.match(r"^/fhir/R4/(\w+)$", path)
    if fhir_search and fhir_search.group(1) in FHIR_TYPES:
        by = "_id" if fhir_search.group(1) == "Patient" else "patient"
        url += f"?{by}={world.ids['client']}"
    return url


ROLE_CASES = [
    (method, path, role)
    for (method, path), allowed in sorted(RULES.items())
    if allowed != PUBLIC
    for role in Role
]


@pytest.mark.parametrize(
    ("method", "path", "role"), ROLE_CASES, ids=[f"{m} {p} {r.value}" for m, p, r in ROLE_CASES]
)
async def test_route_answers_each_role_by_the_table(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    staff: Staff,
    method: str,
    path: str,
    role: Role,
) -> None:
    world = await build_world(sessionmaker, staff)
    url = concrete_url(path, world)
    headers = {**staff.headers(role), "If-Match": '"1"'}
    body: dict[str, object] | None = {} if method in ("POST", "PATCH") else None
    response = await client.request(method, url, json=body, headers=headers)
    assert response.status_code < 500, response.text
    if role in RULES[(method, path)]:
        assert response.status_code not in (401, 403, 404), (role, response.text)
    else:
        assert response.status_code in (403, 404), (role, response.status_code, response.text)
        expected = (
            "application/fhir+json" if path.startswith("/fhir/") else "application/problem+json"
        )
        assert response.headers["content-type"] == expected


PROTECTED = sorted(key for key, allowed in RULES.items() if allowed != PUBLIC)


@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=[f"{m} {p}" for m, p in PROTECTED])
async def test_every_protected_route_needs_a_token(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    url = re.sub(r"\{\w+\}", str(uuid.uuid4()), path)
    response = await client.request(method, url, json={} if method in ("POST", "PATCH") else None)
    assert response.status_code == 401, response.text
    if path.startswith("/fhir/"):
        assert response.json()["issue"][0]["code"] == "login"
    else:
        assert response.json()["type"] == "/problems/unauthorized"
