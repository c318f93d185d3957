"""The printable report is HTML under a strict Content-Security-Policy that still lets it render:
its inline styles and inline SVG charts are allowed, scripts and other hosts are not."""

from __future__ import annotations

import re

import httpx

from tests.summaries.conftest import SummaryClinic


async def test_the_html_report_is_served_under_a_strict_csp_it_renders_with(
    client: httpx.AsyncClient, summary_clinic: SummaryClinic
) -> None:
    headers = {**summary_clinic.staff.headers("admin"), "Accept": "text/html"}
    report = await client.get(f"/v1/care-plans/{summary_clinic.plan_id}/summary", headers=headers)
    assert report.status_code == 200
    assert report.headers["content-type"].startswith("text/html")
    csp = dict(
        (part.strip().split(" ", 1) + [""])[:2]
        for part in report.headers["content-security-policy"].split(";")
    )
    assert csp["default-src"] == "'none'"
    assert "script-src" not in csp  # falls back to 'none': no script may run
    assert "'unsafe-inline'" in csp["style-src"]  # the <style> block and style="" attributes
    assert csp["frame-ancestors"] == "'none'"
    assert report.headers["cache-control"] == "no-store"
    assert report.headers["x-content-type-options"] == "nosniff"
    html = report.text
    assert "<style>" in html
    assert "<svg" in html
    assert "<script" not in html
    # nothing is loaded from elsewhere: no external stylesheet, image, font or script
    assert not re.search(r"""(?:src|href)\s*=\s*["']?https?://""", html)
    assert "url(http" not in html
