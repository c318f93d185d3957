"""Referral request bodies, and the clients and professionals they need, made over the API."""

from __future__ import annotations

from typing import Any

import httpx

from tests import factories


def referral(client_id: str, referring_professional_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "referring_professional_id": referring_professional_id,
        "received_on": "2026-03-02",
        "reason": "Chronic low back pain, massage alongside physiotherapy",
        "diagnosis_codes": ["M54.5"],
        "diagnosis_text": "Non-specific low back pain",
        "authorized_sessions": 8,
        "valid_until": "2026-09-01",
        "precautions_note": "Avoid deep pressure over the lumbar spine",
        **overrides,
    }


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def new_client(http: httpx.AsyncClient, headers: dict[str, str], **overrides: Any) -> str:
    body = created(
        await http.post("/v1/clients", json=factories.client(**overrides), headers=headers)
    )
    return str(body["id"])


async def new_referring_professional(
    http: httpx.AsyncClient, headers: dict[str, str], **overrides: Any
) -> str:
    response = await http.post(
        "/v1/referring-professionals",
        json=factories.referring_professional(**overrides),
        headers=headers,
    )
    return str(created(response)["id"])


async def new_therapist(http: httpx.AsyncClient, headers: dict[str, str], **overrides: Any) -> str:
    response = await http.post(
        "/v1/therapists", json=factories.therapist(**overrides), headers=headers
    )
    return str(created(response)["id"])


async def new_referral(
    http: httpx.AsyncClient,
    headers: dict[str, str],
    client_id: str,
    referring_professional_id: str,
    **overrides: Any,
) -> dict[str, Any]:
    response = await http.post(
        "/v1/referrals",
        json=referral(client_id, referring_professional_id, **overrides),
        headers=headers,
    )
    return created(response)


def problem_locs(response: httpx.Response) -> list[list[str | int]]:
    """The `loc` of every error of a 422 problem document."""
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == "/problems/validation-error"
    return [error["loc"] for error in body["errors"]]
