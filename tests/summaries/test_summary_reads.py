"""What a summary reads depends on its format: the signature of each note (who signed it, how
many addenda correct it) is printed by the reports only, so a JSON summary never reads it."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.statements import captured
from tests.summaries.conftest import SummaryClinic


@pytest.mark.parametrize("kind", ["care-plans", "referrals"])
async def test_only_the_reports_read_who_signed_the_notes(
    client: httpx.AsyncClient,
    summary_clinic: SummaryClinic,
    connection: AsyncConnection,
    kind: str,
) -> None:
    resource_id = summary_clinic.plan_id if kind == "care-plans" else summary_clinic.referral_id
    signatures = {}
    for accept in ("application/json", "text/html", "application/pdf"):
        with captured(connection) as sent:
            response = await client.get(
                f"/v1/{kind}/{resource_id}/summary",
                headers={**summary_clinic.staff.headers("admin"), "Accept": accept},
            )
        assert response.status_code == 200, response.text
        signatures[accept] = [sql for sql, _ in sent if "addenda" in sql or "users" in sql]
    assert signatures["application/json"] == []
    assert len(signatures["text/html"]) == 2
    assert len(signatures["application/pdf"]) == 2
