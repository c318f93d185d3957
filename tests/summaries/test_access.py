"""Who reads which summary: clinicians all, the front desk none, a referrer only its own
referrals' and only while the client's consent to share with it is active."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.security import Role
from app.referrals.models import Referral
from tests.summaries.conftest import SummaryClinic, consent, grant

TODAY = dt.datetime.now(dt.UTC).date()
DAY = dt.timedelta(days=1)


def paths(clinic: SummaryClinic) -> dict[str, str]:
    return {
        "referral": f"/v1/referrals/{clinic.referral_id}/summary",
        "plan": f"/v1/care-plans/{clinic.plan_id}/summary",
    }


async def statuses(client: httpx.AsyncClient, clinic: SummaryClinic, role: str) -> dict[str, int]:
    headers = clinic.staff.headers(role)
    return {
        name: (await client.get(path, headers=headers)).status_code
        for name, path in paths(clinic).items()
    }


async def audit_events(
    client: httpx.AsyncClient, clinic: SummaryClinic, **filters: str
) -> list[dict[str, Any]]:
    response = await client.get(
        "/v1/audit-events",
        params={"limit": "200", **filters},
        headers=clinic.staff.headers("admin"),
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.mark.parametrize("role", ["admin", "therapist"])
async def test_clinicians_read_every_summary(
    client: httpx.AsyncClient, summary_clinic: SummaryClinic, role: str
) -> None:
    assert await statuses(client, summary_clinic, role) == {"referral": 200, "plan": 200}
    foreign = await client.get(
        f"/v1/referrals/{summary_clinic.foreign_referral_id}/summary",
        headers=summary_clinic.staff.headers(role),
    )
    assert foreign.status_code == 200


async def test_front_desk_is_forbidden(
    client: httpx.AsyncClient, summary_clinic: SummaryClinic
) -> None:
    for path in paths(summary_clinic).values():
        response = await client.get(path, headers=summary_clinic.staff.headers("front_desk"))
        assert response.status_code == 403
        assert response.json()["type"] == "/problems/forbidden"
        assert "Robin" not in response.text


async def test_no_token_is_unauthorized(
    client: httpx.AsyncClient, summary_clinic: SummaryClinic
) -> None:
    for path in paths(summary_clinic).values():
        response = await client.get(path)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"


async def test_referrer_with_active_consent_reads_its_own(
    client: httpx.AsyncClient,
    summary_clinic: SummaryClinic,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await grant(sessionmaker, consent(summary_clinic.client_id, summary_clinic.professional_id))
    assert await statuses(client, summary_clinic, "referrer") == {"referral": 200, "plan": 200}
    body = (
        await client.get(
            paths(summary_clinic)["referral"], headers=summary_clinic.staff.headers("referrer")
        )
    ).json()
    assert body["referring_professional_id"] == str(summary_clinic.professional_id)
    assert [p["care_plan_id"] for p in body["care_plans"]] == [str(summary_clinic.plan_id)]


async def test_consent_without_end_and_ending_today_are_active(
    client: httpx.AsyncClient,
    summary_clinic: SummaryClinic,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await grant(
        sessionmaker,
        consent(
            summary_clinic.client_id,
            summary_clinic.professional_id,
            granted_on=TODAY,
            expires_on=TODAY,
        ),
    )
    assert await statuses(client, summary_clinic, "referrer") == {"referral": 200, "plan": 200}


@pytest.mark.parametrize(
    "case",
    [
        "none",
        "expired",
        "not_yet_granted",
        "revoked",
        "treatment_only",
        "names_another_professional",
    ],
)
async def test_referrer_without_an_active_consent_sees_nothing(
    client: httpx.AsyncClient,
    summary_clinic: SummaryClinic,
    sessionmaker: async_sessionmaker[AsyncSession],
    case: str,
) -> None:
    client_id, mine = summary_clinic.client_id, summary_clinic.professional_id
    consents = {
        "none": [],
        "expired": [consent(client_id, mine, granted_on=TODAY - 30 * DAY, expires_on=TODAY - DAY)],
        "not_yet_granted": [consent(client_id, mine, granted_on=TODAY + DAY)],
        "revoked": [consent(client_id, mine, revoked=True)],
        "treatment_only": [consent(client_id, mine, kind="treatment")],
        "names_another_professional": [consent(client_id, summary_clinic.foreign_professional_id)],
    }[case]
    # another client's consent naming this referrer opens nothing of Robin's either
    await grant(sessionmaker, *consents, consent(summary_clinic.other_client_id, mine))
    for path in paths(summary_clinic).values():
        response = await client.get(path, headers=summary_clinic.staff.headers("referrer"))
        assert response.status_code == 404, (case, path)
        assert response.json()["type"] == "/problems/not-found"
        assert "Robin" not in response.text


async def test_revoking_the_consent_closes_access_at_once(
    client: httpx.AsyncClient,
    summary_clinic: SummaryClinic,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    (consent_id,) = await grant(
        sessionmaker, consent(summary_clinic.client_id, summary_clinic.professional_id)
    )
    assert await statuses(client, summary_clinic, "referrer") == {"referral": 200, "plan": 200}
    revoked = await client.post(
        f"/v1/consents/{consent_id}/revoke", headers=summary_clinic.staff.headers("admin")
    )
    assert revoked.status_code == 200, revoked.text
    assert await statuses(client, summary_clinic, "referrer") == {"referral": 404, "plan": 404}
    # the clinic's staff still read it
    assert await statuses(client, summary_clinic, "therapist") == {"referral": 200, "plan": 200}


async def test_referrer_never_reads_another_professionals_referral(
    client: httpx.AsyncClient,
    summary_clinic: SummaryClinic,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    # Robin shares with both professionals; the foreign referral is still not this referrer's
    await grant(
        sessionmaker,
        consent(summary_clinic.client_id, summary_clinic.professional_id),
        consent(summary_clinic.client_id, summary_clinic.foreign_professional_id),
    )
    referrer = summary_clinic.staff.headers("referrer")
    foreign = await client.get(
        f"/v1/referrals/{summary_clinic.foreign_referral_id}/summary", headers=referrer
    )
    assert foreign.status_code == 404
    # the second plan is linked only to the foreign referral
    second = await client.get(
        f"/v1/care-plans/{summary_clinic.second_plan_id}/summary", headers=referrer
    )
    assert second.status_code == 404
    # answered exactly as for an id that does not exist
    missing = await client.get(
        "/v1/care-plans/00000000-0000-4000-8000-000000000000/summary", headers=referrer
    )
    assert second.json() == missing.json()


@pytest.mark.parametrize(
    ("status", "opens"),
    [
        ("pending", False),
        ("declined", False),
        ("cancelled", False),
        ("accepted", True),
        ("completed", True),
    ],
)
async def test_only_an_accepted_or_completed_referral_opens_its_summaries(
    client: httpx.AsyncClient,
    summary_clinic: SummaryClinic,
    sessionmaker: async_sessionmaker[AsyncSession],
    status: str,
    opens: bool,
) -> None:
    await grant(sessionmaker, consent(summary_clinic.client_id, summary_clinic.professional_id))
    async with sessionmaker() as session:
        await session.execute(
            update(Referral).where(Referral.id == summary_clinic.referral_id).values(status=status)
        )
        await session.commit()
    expected = 200 if opens else 404
    assert await statuses(client, summary_clinic, "referrer") == {
        "referral": expected,
        "plan": expected,
    }


async def test_an_archived_referral_opens_nothing(
    client: httpx.AsyncClient,
    summary_clinic: SummaryClinic,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await grant(sessionmaker, consent(summary_clinic.client_id, summary_clinic.professional_id))
    archived = await client.delete(
        f"/v1/referrals/{summary_clinic.referral_id}", headers=summary_clinic.staff.headers("admin")
    )
    assert archived.status_code == 204
    assert await statuses(client, summary_clinic, "referrer") == {"referral": 404, "plan": 404}


async def test_every_read_is_audited(
    client: httpx.AsyncClient,
    summary_clinic: SummaryClinic,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await grant(sessionmaker, consent(summary_clinic.client_id, summary_clinic.professional_id))
    referrer_key = summary_clinic.staff.key_ids[Role.referrer]
    for accept in ("application/json", "text/html", "application/pdf"):
        for path in paths(summary_clinic).values():
            headers = {**summary_clinic.staff.headers("referrer"), "Accept": accept}
            assert (await client.get(path, headers=headers)).status_code == 200

    events = await audit_events(client, summary_clinic, actor_id=str(referrer_key), action="read")
    summaries = [
        e for e in events if e["resource_type"] in {"care_plan_summary", "referral_summary"}
    ]
    assert len(summaries) == 6
    assert {(e["resource_type"], e["resource_id"]) for e in summaries} == {
        ("care_plan_summary", str(summary_clinic.plan_id)),
        ("referral_summary", str(summary_clinic.referral_id)),
    }
    for event in summaries:
        assert event["client_id"] == str(summary_clinic.client_id)
        assert event["role"] == "referrer"
        assert event["actor_type"] == "api_key"
        assert event["request_id"]


async def test_a_hidden_summary_is_audited_as_denied(
    client: httpx.AsyncClient, summary_clinic: SummaryClinic
) -> None:
    referrer_key = summary_clinic.staff.key_ids[Role.referrer]
    response = await client.get(
        paths(summary_clinic)["plan"], headers=summary_clinic.staff.headers("referrer")
    )
    assert response.status_code == 404
    denied = await audit_events(client, summary_clinic, actor_id=str(referrer_key), action="denied")
    assert [e["status"] for e in denied] == [404]
    reads = await audit_events(client, summary_clinic, actor_id=str(referrer_key), action="read")
    assert reads == []

    front_desk_key = summary_clinic.staff.key_ids[Role.front_desk]
    await client.get(
        paths(summary_clinic)["referral"], headers=summary_clinic.staff.headers("front_desk")
    )
    denied = await audit_events(
        client, summary_clinic, actor_id=str(front_desk_key), action="denied"
    )
    assert [e["status"] for e in denied] == [403]
