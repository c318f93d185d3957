"""A JSON summary is answered on the event loop: no dependency of its route is handed to a
worker thread (a thread hop per request costs more than the summary's arithmetic)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.concurrency import run_in_threadpool

from tests.summaries.conftest import SummaryClinic


async def test_no_dependency_of_the_summary_runs_in_a_thread(
    client: httpx.AsyncClient, summary_clinic: SummaryClinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    handed: list[str] = []

    async def counting(call: Any, *args: Any, **kwargs: Any) -> Any:
        handed.append(getattr(call, "__name__", repr(call)))
        return await run_in_threadpool(call, *args, **kwargs)

    # FastAPI runs a plain-function dependency through its own import of this
    monkeypatch.setattr("fastapi.dependencies.utils.run_in_threadpool", counting)
    response = await client.get(
        f"/v1/care-plans/{summary_clinic.plan_id}/summary",
        headers={**summary_clinic.staff.headers("admin"), "Accept": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert handed == []
