"""`careplan demo`: a small clinic a newcomer can explore at once.

Everything goes through the API itself, in process (the same routes, services, screening and
signing rules as any client), so the demo data is exactly what the rules allow: therapists,
referring professionals, 32 clients with precautions and consents, accepted referrals, care
plans with goals, twelve weeks of sessions whose measurements trend toward the goals' targets,
signed notes with an addendum, and a referrer with a sharing consent.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

WEEKS = 12
PLANNED_CLIENTS = 12  # clients with a referral, a care plan and twelve weeks of sessions


class DemoFailed(RuntimeError):
    """The API refused a demo request: the demo data no longer fits the rules."""


@dataclass
class DemoClinic:
    plan_ids: list[str] = field(default_factory=list)
    client_ids: list[str] = field(default_factory=list)
    sessions: int = 0
    signed: int = 0
    warnings: int = 0
    referrer_key: str = ""
    referrer_email: str = ""
    referrer_password: str = ""


THERAPISTS = [
    ("Maya Okonkwo", ["RMT"], ["prenatal", "oncology"]),
    ("Liam Becker", ["LMT"], ["sports"]),
    ("Priya Raman", ["RMT"], ["prenatal", "lymphatic_drainage"]),
    ("Tomás Alvarez", ["LMT", "CMT"], ["oncology", "medical_massage"]),
]
REFERRERS = [
    ("Dr. Hannah Weiss", "physical_therapy", "Riverside Physiotherapy"),
    ("Dr. Samuel Osei", "primary_care", "Elm Street Family Practice"),
    ("Dr. Lucía Fernández", "sports_medicine", "Northside Sports Clinic"),
    ("Dr. Aiko Tanaka", "oncology", "City Cancer Centre"),
]
CLIENT_NAMES = [
    ("Amara", "Nwosu"),
    ("Ben", "Hartley"),
    ("Chloé", "Dubois"),
    ("Dev", "Malhotra"),
    ("Elena", "Petrova"),
    ("Farid", "Haddad"),
    ("Grace", "O'Connell"),
    ("Hiro", "Sato"),
    ("Isla", "MacLeod"),
    ("Jonas", "Lindqvist"),
    ("Kavya", "Iyer"),
    ("Leo", "Moretti"),
    ("Mariam", "Yusuf"),
    ("Noah", "Fischer"),
    ("Olivia", "Brennan"),
    ("Pablo", "Ortega"),
    ("Quinn", "Delaney"),
    ("Rosa", "Alves"),
    ("Stefan", "Novak"),
    ("Tara", "Whitfield"),
    ("Umar", "Siddiqui"),
    ("Vera", "Kowalski"),
    ("Wei", "Zhang"),
    ("Ximena", "Rojas"),
    ("Yusuf", "Demir"),
    ("Zoë", "Okafor"),
    ("Aaron", "Goldberg"),
    ("Bianca", "Rossi"),
    ("Caleb", "Thompson"),
    ("Dalia", "Mansour"),
    ("Emil", "Johansson"),
    ("Fatima", "Benali"),
]
# (category, severity, body regions, requires clearance, description) by client index; the
# first five are planned clients whose sessions show what screening does with each
PRECAUTIONS: dict[int, tuple[str, str, list[str], bool, str]] = {
    0: ("pregnancy", "relative", [], False, "Second trimester; side-lying positioning"),
    1: ("recent_surgery", "local", ["knees"], False, "Right knee arthroscopy, 5 weeks ago"),
    2: ("anticoagulants", "relative", [], False, "On apixaban: light pressure, watch bruising"),
    3: ("dvt", "absolute", ["legs"], True, "Left calf DVT last spring, treated"),
    4: ("cancer", "relative", [], False, "Breast cancer, in remission; no lymph node work"),
    13: ("allergy", "relative", [], False, "Nut oils: use the hypoallergenic lotion"),
    17: ("skin_condition", "local", ["arms"], False, "Eczema on both forearms"),
    21: ("osteoporosis", "relative", [], False, "Light pressure over the spine and ribs"),
    26: ("cardiovascular", "relative", [], False, "Controlled hypertension"),
}
PLAN_TITLES = [
    ("Prenatal comfort: low back and hips", "prenatal", "prenatal"),
    ("Return to running after knee surgery", "rehabilitation", "therapeutic"),
    ("Neck and shoulder tension at work", "therapeutic", "therapeutic"),
    ("Low back pain alongside physiotherapy", "rehabilitation", "therapeutic"),
    ("Comfort and sleep during remission", "oncology_support", "oncology"),
    ("Chronic low back pain", "therapeutic", "therapeutic"),
    ("Marathon training recovery", "sports", "sports"),
    ("Tension headaches", "therapeutic", "therapeutic"),
    ("Hip mobility after a fall", "rehabilitation", "therapeutic"),
    ("Shoulder impingement alongside physiotherapy", "rehabilitation", "therapeutic"),
    ("Desk-work neck pain", "therapeutic", "therapeutic"),
    ("Plantar fasciitis", "sports", "sports"),
]
TECHNIQUES = [
    ["effleurage", "petrissage"],
    ["myofascial release", "trigger point"],
    ["myofascial release", "stretching"],
    ["effleurage", "stretching"],
]


class DemoApi:
    """Requests as the demo's admin; any refusal stops the demo with the API's own words."""

    def __init__(self, http: httpx.AsyncClient, key: str) -> None:
        self.http = http
        self.headers = {"Authorization": f"Bearer {key}"}

    def as_key(self, key: str) -> DemoApi:
        """The same client acting with another API key (a therapist signs their own notes)."""
        return DemoApi(self.http, key)

    async def send(
        self, method: str, path: str, body: Any = None, version: int | None = None
    ) -> Any:
        headers = dict(self.headers)
        if version is not None:
            headers["If-Match"] = f'"{version}"'
        response = await self.http.request(method, path, json=body, headers=headers)
        if response.status_code >= 300:
            raise DemoFailed(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json()


def _trend(baseline: float, target: float, week: int, wobble: float) -> float:
    """Most of the way from baseline to target over the weeks, not quite a straight line."""
    share = min(1.0, (week + 1) / WEEKS * 0.9)
    return round(baseline + (target - baseline) * share + wobble, 1)


async def build_demo_clinic(
    app: FastAPI, admin_key: str, today: dt.date, advance: Callable[[int], None]
) -> DemoClinic:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://careplan.demo") as http:
        return await _build(DemoApi(http, admin_key), today, advance)


async def _build(api: DemoApi, today: dt.date, advance: Callable[[int], None]) -> DemoClinic:
    clinic = DemoClinic()
    licence_until = (today + dt.timedelta(days=700)).isoformat()
    therapists = []
    for n, (name, credentials, certifications) in enumerate(THERAPISTS):
        therapists.append(
            await api.send(
                "POST",
                "/v1/therapists",
                {
                    "full_name": name,
                    "email": f"{name.split()[0].lower()}@clinic.example",
                    "license_number": f"MT-{41200 + n}",
                    "license_region": "ON",
                    "license_expires_on": licence_until,
                    "credentials": credentials,
                    "certifications": certifications,
                },
            )
        )
        # signing is a person's attestation: each therapist signs through a key of their own
        therapist_key = await api.send(
            "POST",
            "/v1/api-keys",
            {
                "name": f"{name} (signing)",
                "role": "therapist",
                "therapist_id": therapists[-1]["id"],
            },
        )
        therapists[-1]["api"] = api.as_key(therapist_key["key"])
    referrers = []
    for name, discipline, organization in REFERRERS:
        domain = organization.split()[0].lower()
        referrers.append(
            await api.send(
                "POST",
                "/v1/referring-professionals",
                {
                    "full_name": name,
                    "discipline": discipline,
                    "organization": organization,
                    "email": f"{name.split()[-1].lower()}@{domain}.example",
                },
            )
        )
    advance(1)
    start = today - dt.timedelta(days=today.weekday() + 7 * WEEKS)  # a Monday, 12 weeks ago
    for index, (given, family) in enumerate(CLIENT_NAMES):
        born = dt.date(1948 + (index * 7) % 50, 1 + index % 12, 1 + (index * 3) % 28)
        body: dict[str, Any] = {
            "given_name": given,
            "family_name": family,
            "date_of_birth": born.isoformat(),
            "email": f"{given.lower()}.{family.lower().replace(chr(39), '')}@example.org",
            "phone": f"+1 555 01{index:02d}",
        }
        if index == 0:
            body["pregnancy_due_date"] = (today + dt.timedelta(days=120)).isoformat()
        client = await api.send("POST", "/v1/clients", body)
        clinic.client_ids.append(client["id"])
        await api.send(
            "POST",
            f"/v1/clients/{client['id']}/consents",
            {"kind": "treatment", "granted_on": start.isoformat()},
        )
        if index in PRECAUTIONS:
            category, severity, regions, clearance, description = PRECAUTIONS[index]
            precaution = await api.send(
                "POST",
                f"/v1/clients/{client['id']}/precautions",
                {
                    "category": category,
                    "severity": severity,
                    "body_regions": regions,
                    "requires_clearance": clearance,
                    "description": description,
                },
            )
            if clearance:
                await api.send(
                    "POST",
                    f"/v1/precautions/{precaution['id']}/clearance",
                    {
                        "referring_professional_id": referrers[1]["id"],
                        "cleared_on": (start - dt.timedelta(days=3)).isoformat(),
                        "note": "Cleared for massage away from the left leg",
                    },
                )
        advance(1)
    for index in range(PLANNED_CLIENTS):
        await _plan_with_sessions(api, clinic, index, therapists, referrers, start, today)
        advance(1)
    await _referrer_access(api, clinic, referrers[0])
    advance(1)
    return clinic


async def _plan_with_sessions(
    api: DemoApi,
    clinic: DemoClinic,
    index: int,
    therapists: list[dict[str, Any]],
    referrers: list[dict[str, Any]],
    start: dt.date,
    today: dt.date,
) -> None:
    client_id = clinic.client_ids[index]
    referrer = referrers[3] if index == 4 else referrers[index % 3]
    therapist = therapists[0] if index < 5 else therapists[index % 4]
    title, kind, session_type = PLAN_TITLES[index]
    referral = await api.send(
        "POST",
        "/v1/referrals",
        {
            "client_id": client_id,
            "referring_professional_id": referrer["id"],
            "received_on": (start - dt.timedelta(days=10)).isoformat(),
            "reason": title,
            "authorized_sessions": WEEKS + 2,
            "valid_until": (today + dt.timedelta(days=180)).isoformat(),
        },
    )
    await api.send(
        "PATCH", f"/v1/referrals/{referral['id']}", {"status": "accepted"}, referral["version"]
    )
    await api.send(
        "POST",
        f"/v1/clients/{client_id}/consents",
        {
            "kind": "share_with_referrer",
            "referring_professional_id": referrer["id"],
            "granted_on": start.isoformat(),
        },
    )
    plan = await api.send(
        "POST",
        "/v1/care-plans",
        {
            "client_id": client_id,
            "referral_ids": [referral["id"]],
            "primary_therapist_id": therapist["id"],
            "title": title,
            "kind": kind,
            "status": "active",
            "start_date": start.isoformat(),
            "end_date": (start + dt.timedelta(weeks=WEEKS + 4)).isoformat(),
            "planned_sessions": WEEKS + 2,
            "sessions_per_week": 1,
            "notes": "Weekly sessions; re-assess at week 6 and week 12.",
        },
    )
    clinic.plan_ids.append(plan["id"])
    goal_specs = [
        ("Pain in daily activities at or below 2/10", "nprs", "points", 7 - index % 3, 2.0),
        ("Range of motion of the affected joint", "rom", "degrees", 95 + index % 5, 120.0),
    ]
    goals = []
    for description, measure, unit, baseline, target in goal_specs:
        goals.append(
            await api.send(
                "POST",
                f"/v1/care-plans/{plan['id']}/goals",
                {
                    "description": description,
                    "measure": measure,
                    "unit": unit,
                    "baseline_value": baseline,
                    "target_value": target,
                    "target_date": (start + dt.timedelta(weeks=WEEKS + 4)).isoformat(),
                    "status": "active",
                },
            )
        )
    pain, motion = goals
    regions = ["lower_back", "hips", "shoulders"]
    avoided = ["knees"] if index == 1 else ["legs"] if index == 3 else []
    # one weekday and hour per client: no therapist is ever booked twice at once
    weekday, hour = index % 5, 9 + index // 5
    last_signed = None
    for week in range(WEEKS):
        day = start + dt.timedelta(weeks=week, days=weekday)
        wobble = ((week * 7 + index * 3) % 5 - 2) / 10
        pain_pre = _trend(pain["baseline_value"], pain["target_value"], week, wobble)
        session = await api.send(
            "POST",
            "/v1/sessions",
            {
                "client_id": client_id,
                "care_plan_id": plan["id"],
                "therapist_id": therapist["id"],
                "scheduled_start": f"{day.isoformat()}T{hour:02d}:00:00Z",
                "duration_minutes": 60,
                "session_type": session_type,
                "status": "completed",
                "body_regions": [r for r in regions if r not in avoided],
                "regions_avoided": avoided,
                "techniques": TECHNIQUES[(week + index) % len(TECHNIQUES)],
                "pressure": "light" if index in (2, 4) else "moderate",
                "soap": {
                    "subjective": f"Week {week + 1}: pain {pain_pre}/10 before the session.",
                    "objective": "Hypertonic paraspinals, easing week by week.",
                    "assessment": "Improving steadily toward the plan's goals.",
                    "plan": "Continue weekly; home stretches twice a day.",
                },
                "measurements": [
                    {
                        "goal_id": pain["id"],
                        "measure": "nprs",
                        "value": pain_pre,
                        "unit": "points",
                        "timing": "pre",
                    },
                    {
                        "goal_id": pain["id"],
                        "measure": "nprs",
                        "value": max(0.0, round(pain_pre - 1, 1)),
                        "unit": "points",
                        "timing": "post",
                    },
                    {
                        "goal_id": motion["id"],
                        "measure": "rom",
                        "value": _trend(
                            motion["baseline_value"], motion["target_value"], week, wobble * 10
                        ),
                        "unit": "degrees",
                        "timing": "post",
                    },
                ],
                "home_care": "Heat 15 minutes in the evening; gentle stretches.",
            },
        )
        clinic.sessions += 1
        clinic.warnings += len(session["warnings"])
        if week < WEEKS - 1:  # the latest note stays a draft, as on a real Monday morning
            last_signed = await therapist["api"].send("POST", f"/v1/sessions/{session['id']}/sign")
            clinic.signed += 1
    if index == 0 and last_signed is not None:
        await therapist["api"].send(
            "POST",
            f"/v1/sessions/{last_signed['id']}/addenda",
            {
                "text": "Client phoned the next day: no soreness, slept well.",
                "reason": "Follow-up after the session",
            },
        )
    next_visit = today + dt.timedelta(days=7 - today.weekday() + weekday)
    await api.send(
        "POST",
        "/v1/sessions",
        {
            "client_id": client_id,
            "care_plan_id": plan["id"],
            "therapist_id": therapist["id"],
            "scheduled_start": f"{next_visit.isoformat()}T{hour:02d}:00:00Z",
            "duration_minutes": 60,
            "session_type": session_type,
            "body_regions": [r for r in regions if r not in avoided],
            "regions_avoided": avoided,
        },
    )
    clinic.sessions += 1


async def _referrer_access(api: DemoApi, clinic: DemoClinic, referrer: dict[str, Any]) -> None:
    """A login and an API key for the first referring professional, whose clients consented."""
    clinic.referrer_email = "hannah.weiss@riverside.example"
    clinic.referrer_password = secrets.token_urlsafe(12)
    await api.send(
        "POST",
        "/v1/users",
        {
            "email": clinic.referrer_email,
            "password": clinic.referrer_password,
            "display_name": referrer["full_name"],
            "role": "referrer",
            "referring_professional_id": referrer["id"],
        },
    )
    key = await api.send(
        "POST",
        "/v1/api-keys",
        {
            "name": "demo referrer",
            "role": "referrer",
            "referring_professional_id": referrer["id"],
        },
    )
    clinic.referrer_key = key["key"]
