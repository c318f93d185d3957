"""`careplan demo`: a clinic built through the API on an empty database, refused on one that
holds clients unless `--force`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from app.clients.models import Client, Consent, Precaution
from app.core.db import create_engine
from app.main import create_app
from app.session_records.models import Addendum, SessionRecord
from tests.conftest import test_settings as settings_for
from tests.test_cli import (
    assert_clean_failure,
    careplan,
    cli_database_url,  # noqa: F401  (the fixture)
)


async def _count(url: str, model: Any, *where: Any) -> int:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            stmt = select(func.count()).select_from(model).where(*where)
            return int(await connection.scalar(stmt) or 0)
    finally:
        await engine.dispose()


async def test_demo_fills_an_empty_database(cli_database_url: str, tmp_path: Path) -> None:  # noqa: F811
    url = cli_database_url
    run = await careplan(url, tmp_path, "demo")
    assert run.code == 0, run
    lines = run.stdout.strip().splitlines()
    key = lines[-1]
    assert key.startswith("cpk_")
    urls = [word for line in lines for word in line.split() if word.startswith("http://")]
    assert len(urls) >= 3
    assert await _count(url, Client) >= 30
    assert await _count(url, Precaution) >= 5
    assert await _count(url, Consent, Consent.kind == "share_with_referrer") >= 1
    assert await _count(url, SessionRecord, SessionRecord.note_status == "signed") >= 100
    assert await _count(url, Addendum) >= 1

    app = create_app(settings_for(url))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://d.test") as http,
    ):
        admin = {"Authorization": f"Bearer {key}"}
        plan_id = next(u for u in urls if "/care-plans/" in u).split("/")[-2]
        summary = await http.get(f"/v1/care-plans/{plan_id}/summary", headers=admin)
        assert summary.status_code == 200, summary.text
        html = await http.get(
            f"/v1/care-plans/{plan_id}/summary", headers={**admin, "Accept": "text/html"}
        )
        assert html.headers["content-type"].startswith("text/html")
        patient = next(u for u in urls if "/fhir/R4/Patient/" in u).split("8000")[1]
        assert (await http.get(patient, headers=admin)).status_code == 200
        sessions = await http.get(
            "/v1/sessions", params={"care_plan_id": plan_id, "limit": 200}, headers=admin
        )
        assert sessions.status_code == 200, sessions.text
        items = sessions.json()["items"]
        assert any(item["warnings"] for item in items)  # the precautions show in screening
        pains = [
            m["value"]
            for item in sorted(items, key=lambda s: s["scheduled_start"])
            for m in item["measurements"]
            if m["measure"] == "nprs" and m["timing"] == "pre"
        ]
        assert len(pains) >= 10
        assert pains[-1] < pains[0]  # the plan trends toward its target

    again = await careplan(url, tmp_path, "demo")
    assert_clean_failure(again, 2, "--force")


async def test_demo_needs_force_when_clients_exist(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'force.db'}"
    csv_file = tmp_path / "one.csv"
    csv_file.write_text("given_name,family_name\nAna,Lopez\n", encoding="utf-8")
    assert (await careplan(url, tmp_path, "db", "upgrade")).code == 0
    assert (await careplan(url, tmp_path, "import", "clients", str(csv_file))).code == 0
    refused = await careplan(url, tmp_path, "demo")
    assert_clean_failure(refused, 2, "1 client(s)", "--force")
    assert await _count(url, Client) == 1
    forced = await careplan(url, tmp_path, "demo", "--force")
    assert forced.code == 0, forced
    assert await _count(url, Client) == 33
