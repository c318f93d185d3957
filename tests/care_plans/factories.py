"""Care-plan and goal request bodies, and plans made over the API."""

from __future__ import annotations

from typing import Any

import httpx

from tests.referrals.factories import created


def care_plan(client_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "title": "Low back pain: eight weekly sessions",
        "kind": "therapeutic",
        "start_date": "2026-03-09",
        "end_date": "2026-05-04",
        "planned_sessions": 8,
        "sessions_per_week": 1,
        "coordinated_care": [
            {
                "referring_professional_id": None,
                "discipline": "physical_therapy",
                "description": "Physiotherapy twice a week, core stabilisation",
            }
        ],
        "notes": "Client prefers moderate pressure",
        **overrides,
    }


def goal(**overrides: Any) -> dict[str, Any]:
    return {
        "description": "Reduce low back pain during desk work",
        "measure": "nprs",
        "unit": "points",
        "baseline_value": 7,
        "target_value": 3,
        "target_date": "2026-05-04",
        **overrides,
    }


async def new_care_plan(
    http: httpx.AsyncClient, headers: dict[str, str], client_id: str, **overrides: Any
) -> dict[str, Any]:
    response = await http.post(
        "/v1/care-plans", json=care_plan(client_id, **overrides), headers=headers
    )
    return created(response)


async def new_goal(
    http: httpx.AsyncClient, headers: dict[str, str], care_plan_id: str, **overrides: Any
) -> dict[str, Any]:
    response = await http.post(
        f"/v1/care-plans/{care_plan_id}/goals", json=goal(**overrides), headers=headers
    )
    return created(response)
