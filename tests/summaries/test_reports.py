"""The printable reports: HTML and PDF chosen by `Accept`, escaped, with a chart per goal, and
no more than the JSON summary holds."""

from __future__ import annotations

import io
import re

import httpx
import pytest
from pypdf import PdfReader
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.care_plans.models import Goal
from tests.summaries.conftest import SECRETS, SummaryClinic

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
GOAL_DESCRIPTIONS = (
    "Pain below 3/10",
    "Walk 4 km",
    "Hip flexion to 120",
    "Sleep through the night",
    "Sit for an hour",
    "Keep ODI at 20",
)


async def get(
    client: httpx.AsyncClient, clinic: SummaryClinic, path: str, accept: str | None
) -> httpx.Response:
    headers = clinic.staff.headers("therapist")
    if accept is not None:
        headers["Accept"] = accept
    return await client.get(path, headers=headers)


def pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return re.sub(r"\s+", " ", text)


def visible_secrets(text: str) -> list[str]:
    return [s for s in SECRETS if s in text] + [
        word for word in ("subjective", "objective", "health update", "home care") if word in text
    ]


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (None, "application/json"),
        ("", "application/json"),
        ("*/*", "application/json"),
        ("application/json", "application/json"),
        ("application/*", "application/json"),
        ("text/html", "text/html; charset=utf-8"),
        ("text/*", "text/html; charset=utf-8"),
        (BROWSER_ACCEPT, "text/html; charset=utf-8"),
        ("application/pdf", "application/pdf"),
        ("application/json;q=0.5, application/pdf", "application/pdf"),
        ("*/*;q=0.1, text/html;q=0.2", "text/html; charset=utf-8"),
        ("image/png, application/pdf;q=0.3", "application/pdf"),
        ("*/*, application/pdf", "application/pdf"),
    ],
)
async def test_format_follows_accept(
    client: httpx.AsyncClient, summary_clinic: SummaryClinic, accept: str | None, media_type: str
) -> None:
    for path in (
        f"/v1/care-plans/{summary_clinic.plan_id}/summary",
        f"/v1/referrals/{summary_clinic.referral_id}/summary",
    ):
        response = await get(client, summary_clinic, path, accept)
        assert response.status_code == 200, (accept, response.text)
        assert response.headers["content-type"] == media_type
        assert response.headers["vary"] == "Accept"
        assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "accept", ["image/png", "text/plain", "application/xml", "application/json;q=0", "nonsense"]
)
async def test_unsupported_accept_is_406(
    client: httpx.AsyncClient, summary_clinic: SummaryClinic, accept: str
) -> None:
    response = await get(
        client, summary_clinic, f"/v1/care-plans/{summary_clinic.plan_id}/summary", accept
    )
    assert response.status_code == 406
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "/problems/not-acceptable"
    assert problem["status"] == 406


async def test_html_report(client: httpx.AsyncClient, summary_clinic: SummaryClinic) -> None:
    response = await get(
        client, summary_clinic, f"/v1/care-plans/{summary_clinic.plan_id}/summary", "text/html"
    )
    html = response.text
    assert html.startswith("<!DOCTYPE html>")
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "script-src" not in csp
    assert "Careplan Clinic" in html  # the clinic's name from the settings
    assert "Robin Okafor" in html
    assert "1980-05-17" in html
    assert "2030-03-01 to 2030-06-30" in html
    for description in GOAL_DESCRIPTIONS:
        assert description in html
    assert "Archived goal" not in html
    # one chart per goal, each with a dashed target line; a baseline where there is one
    assert html.count("<svg") == len(GOAL_DESCRIPTIONS)
    assert html.count('<line class="target"') == 6
    assert html.count('<line class="baseline"') == 5  # "Sit for an hour" has no baseline
    assert 'stroke-dasharray="8 5"' in html
    # the pain goal: baseline 7 → latest 4 → target 2, 60 %
    assert "60.0 %" in html
    assert "−16.7 %" in html
    assert "3.3 %" in html
    for text in (
        "Mild soreness for a day",
        "myofascial release",
        "Pain reduced; hip flexion limited",
        "Continue weekly; add hip work",
    ):
        assert text in html
    # self-contained: no script, no external resource
    assert "<script" not in html.lower()
    assert "<link" not in html.lower()
    assert "src=" not in html
    assert "@media print" in html
    assert visible_secrets(html) == []


async def test_html_escapes_every_user_text(
    client: httpx.AsyncClient,
    summary_clinic: SummaryClinic,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    attack = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    async with sessionmaker() as db:
        goal = await db.get(Goal, summary_clinic.goals["pain"])
        assert goal is not None
        goal.description = f"Pain {attack}"
        goal.unit = "<b>u</b>"
        await db.commit()
    for path in (
        f"/v1/care-plans/{summary_clinic.plan_id}/summary",
        f"/v1/referrals/{summary_clinic.referral_id}/summary",
    ):
        html = (await get(client, summary_clinic, path, "text/html")).text
        assert "<script" not in html
        assert "<img" not in html
        assert "<b>u</b>" not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
        assert html.count("<svg") == len(GOAL_DESCRIPTIONS)


async def test_referral_html_report_shows_each_plan_and_who_it_is_for(
    client: httpx.AsyncClient, summary_clinic: SummaryClinic
) -> None:
    response = await get(
        client,
        summary_clinic,
        f"/v1/referrals/{summary_clinic.foreign_referral_id}/summary",
        "text/html",
    )
    html = response.text
    assert "Prepared for Dr. Someone Else" in html
    assert "Low back rehabilitation" in html
    assert "Shoulder mobility" in html
    assert html.count('<section class="plan">') == 2
    assert html.count("<svg") == len(GOAL_DESCRIPTIONS)  # the second plan has no goals


async def test_pdf_report(client: httpx.AsyncClient, summary_clinic: SummaryClinic) -> None:
    response = await get(
        client,
        summary_clinic,
        f"/v1/care-plans/{summary_clinic.plan_id}/summary",
        "application/pdf",
    )
    assert response.status_code == 200
    assert response.content.startswith(b"%PDF-")
    assert response.headers["content-disposition"] == (
        f'inline; filename="care-plan-summary-{summary_clinic.plan_id}.pdf"'
    )
    text = pdf_text(response.content)
    assert "Careplan Clinic" in text
    assert "Robin Okafor" in text
    for description in GOAL_DESCRIPTIONS:
        assert description in text
    for expected in (
        "60.0 %",
        "−16.7 %",
        "Mild soreness for a day",
        "myofascial release",
        "Pain reduced; hip flexion limited",
        "Continue weekly; add hip work",
        "target 2",
        "baseline 7",
    ):
        assert expected in text
    assert "Archived goal" not in text
    assert visible_secrets(text) == []


async def test_pdf_draws_the_charts_as_vectors(
    client: httpx.AsyncClient, summary_clinic: SummaryClinic
) -> None:
    response = await get(
        client,
        summary_clinic,
        f"/v1/care-plans/{summary_clinic.plan_id}/summary",
        "application/pdf",
    )
    reader = PdfReader(io.BytesIO(response.content))
    content = b"".join(page.get_contents().get_data() for page in reader.pages)  # type: ignore[union-attr]
    # every goal has a target, drawn dashed (and dashed again in its legend)
    dashes = re.findall(rb"\[([\d.]+) ([\d.]+)\] [\d.]+ d", content)
    assert len(dashes) >= 2 * len(GOAL_DESCRIPTIONS)
    # a dot for each of the 10 values recorded against the goals (pain 4, walk 2, hip 2, sit 1,
    # ODI 1), and the pain goal's values before and after sessions joined by polylines
    assert len(re.findall(rb" c B\n", content)) == 10
    assert len(re.findall(rb" m\n(?:[\d.]+ [\d.]+ l\n)+ S\n", content)) == 2
    for page in reader.pages:  # no raster image anywhere
        resources = page.get("/Resources") or {}
        xobjects = resources.get("/XObject") or {}
        assert not xobjects


async def test_pdf_survives_text_outside_the_core_fonts(
    client: httpx.AsyncClient,
    summary_clinic: SummaryClinic,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as db:
        goal = await db.get(Goal, summary_clinic.goals["walk"])
        assert goal is not None
        goal.description = "Walk 4 km → daily ≥ 5 days, Zoë’s “goal” 🚶 步行"
        await db.commit()
    response = await get(
        client,
        summary_clinic,
        f"/v1/care-plans/{summary_clinic.plan_id}/summary",
        "application/pdf",
    )
    assert response.status_code == 200
    text = pdf_text(response.content)
    assert "Walk 4 km → daily ≥ 5 days, Zoë’s “goal” ? ??" in text


async def test_referral_pdf_with_several_plans(
    client: httpx.AsyncClient, summary_clinic: SummaryClinic
) -> None:
    response = await get(
        client,
        summary_clinic,
        f"/v1/referrals/{summary_clinic.foreign_referral_id}/summary",
        "application/pdf",
    )
    assert response.status_code == 200
    text = pdf_text(response.content)
    assert "Robin Okafor" in text
    assert "Low back rehabilitation" in text
    assert "Shoulder mobility" in text
    assert "Prepared for Dr. Someone Else" in text
