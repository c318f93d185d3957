from __future__ import annotations

import httpx
import pytest

from tests.conftest import Staff
from tests.referrals.factories import new_client


@pytest.fixture
async def client_id(client: httpx.AsyncClient, staff: Staff) -> str:
    """A client of the clinic, made by the admin."""
    return await new_client(client, staff.headers("admin"))
