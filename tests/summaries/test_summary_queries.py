"""A summary costs the same number of SQL statements whatever the number of sessions."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from tests.statements import captured
from tests.summaries.conftest import SummaryClinic, add_session, at, consent, grant, sign_notes

STATUSES = ("completed", "completed", "cancelled", "scheduled")


async def add_sessions(
    sessionmaker: async_sessionmaker[AsyncSession], clinic: SummaryClinic, n: int, offset: int
) -> None:
    async with sessionmaker() as db:
        for i in range(n):
            add_session(
                db,
                client_id=clinic.client_id,
                therapist_id=clinic.staff.therapist_id,
                plan_id=clinic.plan_id,
                start=at("2030-05-01") + dt.timedelta(hours=offset + i),
                status=STATUSES[i % 4],
                techniques=[f"technique {i % 7}"],
                soap={"assessment": f"assessment {i}", "plan": f"plan {i}"},
                adverse_event="soreness" if i % 5 == 0 else None,
                measurements=[
                    (clinic.goals["pain"], "nprs", i % 11, "pre"),
                    (clinic.goals["pain"], "nprs", (i + 3) % 11, "post"),
                    (None, "odi", i % 100, "pre"),
                ],
            )
        await sign_notes(db, clinic.staff.therapist_id)
        await db.commit()


async def count_statements(
    client: httpx.AsyncClient, connection: AsyncConnection, path: str, headers: dict[str, str]
) -> tuple[int, dict[str, Any] | bytes]:
    with captured(connection) as statements:
        response = await client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json() if "json" in response.headers["content-type"] else response.content
    return len(statements), body


async def test_summary_queries_do_not_grow_with_sessions(
    client: httpx.AsyncClient,
    summary_clinic: SummaryClinic,
    connection: AsyncConnection,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await grant(sessionmaker, consent(summary_clinic.client_id, summary_clinic.professional_id))
    requests = [
        (f"/v1/care-plans/{summary_clinic.plan_id}/summary", role, accept)
        for role in ("admin", "referrer")
        for accept in ("application/json", "text/html", "application/pdf")
    ] + [
        (f"/v1/referrals/{summary_clinic.referral_id}/summary", role, accept)
        for role in ("therapist", "referrer")
        for accept in ("application/json", "application/pdf")
    ]

    async def counts() -> list[int]:
        out = []
        for path, role, accept in requests:
            headers = {**summary_clinic.staff.headers(role), "Accept": accept}
            n, _ = await count_statements(client, connection, path, headers)
            out.append(n)
        return out

    await add_sessions(sessionmaker, summary_clinic, 5, 0)
    with_five = await counts()
    await add_sessions(sessionmaker, summary_clinic, 195, 100)
    with_two_hundred = await counts()
    assert with_five == with_two_hundred

    # and the 200 sessions were really read
    _, body = await count_statements(
        client,
        connection,
        f"/v1/care-plans/{summary_clinic.plan_id}/summary",
        summary_clinic.staff.headers("admin"),
    )
    assert isinstance(body, dict)
    added = [STATUSES[i % 4] for i in range(5)] + [STATUSES[i % 4] for i in range(195)]
    completed = added.count("completed")
    # the clinic's own 4 completed (one a draft) and 1 cancelled, and the new ones
    assert body["sessions"]["completed"] == 4 + completed
    assert body["sessions"]["cancelled"] == 1 + added.count("cancelled")
    nprs = next(m for m in body["measures"] if m["measure"] == "nprs")
    assert len(nprs["points"]) == 5 + 2 * completed
    assert len(body["adverse_events"]) == 1 + sum(
        1 for i in [*range(5), *range(195)] if i % 5 == 0 and STATUSES[i % 4] == "completed"
    )
