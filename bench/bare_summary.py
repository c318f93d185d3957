"""The bare app's `GET /v1/care-plans/{id}/summary`: the statements Careplan runs for it, on
asyncpg, and the same JSON built with plain dicts and orjson.

The arithmetic is Careplan's own: the pure functions of `app/summaries/service.py` and
`app/measures.py`, called on the rows fetched here. What this leaves out is the framework, the
ORM and the response models, nothing the summary computes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from typing import Any

import asyncpg
import orjson

from app import measures
from app.summaries.service import (
    MeasuredValue,
    clinically_important,
    immediate_change,
    lasting_change,
    progress_percent,
)

COMPLETED, SCHEDULED, SIGNED, ACTIVE = "completed", "scheduled", "signed", "active"

PLAN = (
    "SELECT id, client_id, primary_therapist_id, title, kind, status, start_date, end_date, "
    "planned_sessions, archived_at FROM care_plans WHERE id = $1"
)
CLIENT = "SELECT id, given_name, family_name, date_of_birth FROM clients WHERE id = $1"
# Careplan's statements take a list of plans (a referral's summary has several): one here
GOALS = (
    "SELECT id, care_plan_id, description, measure, unit, baseline_value, target_value, mcid, "
    "status FROM goals WHERE care_plan_id = ANY($1::uuid[]) AND archived_at IS NULL "
    "ORDER BY created_at, id"
)
SESSIONS_OF = "care_plan_id = ANY($1::uuid[]) AND client_id = $2 AND archived_at IS NULL"
COUNTS = (
    "SELECT care_plan_id, status, count(*) AS sessions, "
    "sum(CASE WHEN scheduled_start >= $3 THEN 1 ELSE 0 END) AS ahead, "
    "sum(CASE WHEN note_status != 'signed' THEN 1 ELSE 0 END) AS unsigned "
    f"FROM session_records WHERE {SESSIONS_OF} GROUP BY care_plan_id, status"
)
SIGNED_SESSIONS = f"{SESSIONS_OF} AND status = 'completed' AND note_status = 'signed'"
SESSIONS = (
    "SELECT id, care_plan_id, scheduled_start, techniques, (soap ->> 'assessment') AS assessment, "
    "(soap ->> 'plan') AS plan, adverse_event, signed_at, signed_by "
    f"FROM session_records WHERE {SIGNED_SESSIONS} ORDER BY scheduled_start, id"
)
MEASUREMENTS = (
    "SELECT m.session_id, s.care_plan_id, s.scheduled_start, m.goal_id, m.measure, m.value, "
    "m.timing, m.position FROM measurements m JOIN session_records s ON s.id = m.session_id "
    "WHERE s.care_plan_id = ANY($1::uuid[]) AND s.client_id = $2 AND s.archived_at IS NULL "
    "AND s.status = 'completed' AND s.note_status = 'signed' AND m.client_id = $2"
)
THERAPISTS = "SELECT id, full_name, credentials FROM therapists WHERE id = ANY($1::uuid[])"
PROFESSIONAL = (
    "p.id AS professional_id, p.full_name AS professional_full_name, "
    "p.discipline AS professional_discipline"
)
REFERRALS = (
    "SELECT l.care_plan_id, r.id, r.reason, r.diagnosis_codes, r.diagnosis_text, "
    f"r.authorized_sessions, r.valid_until, {PROFESSIONAL} "
    "FROM care_plan_referrals l JOIN referrals r ON r.id = l.referral_id "
    "JOIN referring_professionals p ON p.id = r.referring_professional_id "
    "WHERE l.care_plan_id = ANY($1::uuid[]) AND r.archived_at IS NULL "
    "ORDER BY r.received_on, r.created_at, r.id"
)
SESSIONS_USED = (
    "SELECT l.referral_id, count(DISTINCT s.id) AS sessions FROM care_plan_referrals l "
    "JOIN session_records s ON s.care_plan_id = l.care_plan_id "
    "WHERE l.referral_id = ANY($1::uuid[]) AND s.client_id = $2 AND s.status = 'completed' "
    "AND s.archived_at IS NULL GROUP BY l.referral_id"
)
PRECAUTIONS = (
    f"SELECT c.category, c.severity, c.body_regions, c.cleared_on, {PROFESSIONAL} "
    "FROM precautions c LEFT OUTER JOIN referring_professionals p "
    "ON p.id = c.clearance_referring_professional_id "
    "WHERE c.client_id = $1 AND c.status = 'active' ORDER BY c.created_at, c.id"
)
# (the reports' signers and addenda counts are read only for HTML and PDF, as in Careplan)


def _json_list(value: Any) -> list[Any]:
    """A JSON column as asyncpg hands it over (text) turned into the list it holds."""
    loaded = orjson.loads(value) if isinstance(value, str) else value
    return list(loaded or [])


def _professional(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["professional_id"],
        "full_name": row["professional_full_name"],
        "discipline": row["professional_discipline"],
    }


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


def _text(value: str | None) -> str | None:
    return value if value is not None and value.strip() else None


async def load_plan(conn: asyncpg.Connection, plan_id: uuid.UUID) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(PLAN, plan_id)
    return None if row is None or row["archived_at"] is not None else row


async def care_plan_summary(
    conn: asyncpg.Connection, plan: asyncpg.Record, now: dt.datetime
) -> dict[str, Any]:
    """The summary of one plan, as the dict Careplan's `CarePlanSummary` serializes to."""
    client = await conn.fetchrow(CLIENT, plan["client_id"])
    plan_ids, client_id = [plan["id"]], client["id"]
    goals = await conn.fetch(GOALS, plan_ids)
    counts = {r["status"]: r for r in await conn.fetch(COUNTS, plan_ids, client_id, now)}
    sessions = await conn.fetch(SESSIONS, plan_ids, client_id)
    measured = [MeasuredValue(*row) for row in await conn.fetch(MEASUREMENTS, plan_ids, client_id)]
    therapist = None
    if plan["primary_therapist_id"] is not None:
        for row in await conn.fetch(THERAPISTS, [plan["primary_therapist_id"]]):
            therapist = {
                "id": row["id"],
                "full_name": row["full_name"],
                "credentials": _json_list(row["credentials"]),
            }
    referrals = await _referrals(conn, plan_ids, client_id)
    precautions = [
        {
            "category": row["category"],
            "severity": row["severity"],
            "body_regions": _json_list(row["body_regions"]),
            "cleared_on": row["cleared_on"],
            "cleared_by": _professional(row) if row["professional_id"] is not None else None,
        }
        for row in await conn.fetch(PRECAUTIONS, client_id)
    ]
    completed = sorted(sessions, key=lambda s: (s["scheduled_start"], s["id"]))
    values = sorted(measured, key=lambda m: m.order)
    latest: dict[uuid.UUID, MeasuredValue] = {}
    series: dict[str, list[dict[str, Any]]] = {}
    goal_values: dict[uuid.UUID, list[MeasuredValue]] = {}
    for m in values:
        point = {"at": m.at, "value": m.value, "timing": "post" if m.timing == "post" else "pre"}
        series.setdefault(m.measure, []).append(point)
        if m.goal_id is not None:
            latest[m.goal_id] = m
            goal_values.setdefault(m.goal_id, []).append(m)
    techniques: Counter[str] = Counter()
    for s in completed:
        techniques.update(set(_json_list(s["techniques"])))
    assessments = [s["assessment"] for s in completed if _text(s["assessment"])]
    plans = [s["plan"] for s in completed if _text(s["plan"])]

    def count(status: str) -> int:
        row = counts.get(status)
        return int(row["sessions"]) if row else 0

    return {
        "care_plan_id": plan["id"],
        "title": plan["title"],
        "kind": plan["kind"],
        "status": plan["status"],
        "client": {
            "id": client_id,
            "given_name": client["given_name"],
            "family_name": client["family_name"],
            "date_of_birth": client["date_of_birth"],
        },
        "therapist": therapist,
        "referrals": referrals,
        "precautions": precautions,
        "period": {"start": plan["start_date"], "end": plan["end_date"]},
        "sessions": {
            "planned": plan["planned_sessions"],
            "completed": count(COMPLETED),
            "cancelled": count("cancelled"),
            "no_show": count("no_show"),
            "upcoming": int(counts[SCHEDULED]["ahead"] or 0) if SCHEDULED in counts else 0,
            "awaiting_signature": (
                int(counts[COMPLETED]["unsigned"] or 0) if COMPLETED in counts else 0
            ),
        },
        "goals": [_goal(g, latest.get(g["id"]), goal_values.get(g["id"], [])) for g in goals],
        "measures": [{"measure": name, "points": points} for name, points in series.items()],
        "techniques": dict(sorted(techniques.items(), key=lambda item: (-item[1], item[0]))),
        "latest_assessment": assessments[-1] if assessments else None,
        "latest_plan": plans[-1] if plans else None,
        "adverse_events": [
            {
                "session_id": s["id"],
                "date": s["scheduled_start"].astimezone(dt.UTC).date(),
                "description": s["adverse_event"],
            }
            for s in completed
            if _text(s["adverse_event"])
        ],
        "generated_at": now,
    }


async def _referrals(
    conn: asyncpg.Connection, plan_ids: list[uuid.UUID], client_id: uuid.UUID
) -> list[dict[str, Any]]:
    linked = await conn.fetch(REFERRALS, plan_ids)
    used: dict[uuid.UUID, int] = {}
    if linked:
        referral_ids = list({row["id"] for row in linked})
        for row in await conn.fetch(SESSIONS_USED, referral_ids, client_id):
            used[row["referral_id"]] = row["sessions"]
    return [
        {
            "id": row["id"],
            "referring_professional": _professional(row),
            "reason": row["reason"],
            "diagnosis_codes": _json_list(row["diagnosis_codes"]),
            "diagnosis_text": row["diagnosis_text"],
            "authorized_sessions": row["authorized_sessions"],
            "sessions_used": used.get(row["id"], 0),
            "valid_until": row["valid_until"],
        }
        for row in linked
    ]


def _goal(
    goal: asyncpg.Record, latest: MeasuredValue | None, values: list[MeasuredValue]
) -> dict[str, Any]:
    value = latest.value if latest else None
    baseline, target = goal["baseline_value"], goal["target_value"]
    mcid = measures.minimal_important_change(goal["measure"], goal["mcid"])
    return {
        "id": goal["id"],
        "description": goal["description"],
        "measure": goal["measure"],
        "unit": measures.goal_unit(goal["measure"], goal["unit"]),
        "baseline_value": _float(baseline),
        "target_value": _float(target),
        "latest_value": _float(value),
        "latest_at": latest.at if latest else None,
        "progress_percent": progress_percent(baseline, target, value),
        "minimal_important_change": _float(mcid),
        "clinically_important": clinically_important(
            goal["measure"], baseline, target, value, mcid
        ),
        "lasting_change": lasting_change(values),
        "immediate_change": immediate_change(values),
        "status": goal["status"],
    }
