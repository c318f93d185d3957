from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.care_plans.factories import new_care_plan
from tests.conftest import Staff
from tests.referrals.factories import new_client


@pytest.fixture
async def client_id(client: httpx.AsyncClient, staff: Staff) -> str:
    """A client of the clinic, made by the admin."""
    return await new_client(client, staff.headers("admin"))


@pytest.fixture
async def plan(client: httpx.AsyncClient, staff: Staff, client_id: str) -> dict[str, Any]:
    """A draft care plan of `client_id`, led by the staff's therapist."""
    return await new_care_plan(
        client,
        staff.headers("therapist"),
        client_id,
        primary_therapist_id=str(staff.therapist_id),
    )
