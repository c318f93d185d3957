"""Swagger UI and ReDoc work without internet: every asset they load comes from the app."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

BASE = "http://careplan.test"
_REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_ANY_URL = re.compile(r"""(?:https?:)?//[A-Za-z0-9.-]+""")
_CSS_URL = re.compile(r"""url\(\s*["']?([^"')]+)""")


def _external(urls: list[str]) -> list[str]:
    return [u for u in urls if urlsplit(urljoin(f"{BASE}/", u)).netloc != urlsplit(BASE).netloc]


@pytest.mark.parametrize("page", ["/docs", "/redoc", "/docs/oauth2-redirect"])
async def test_the_docs_load_only_assets_of_this_host(client: httpx.AsyncClient, page: str) -> None:
    answer = await client.get(page)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    html = answer.text
    assert not _ANY_URL.findall(html), "the page names another host"
    referenced = _REFERENCE.findall(html)
    assert not _external(referenced)
    for asset in referenced:
        loaded = await client.get(urljoin(f"{BASE}{page}", asset))
        assert loaded.status_code == 200, asset
        assert loaded.content, asset
        if asset.endswith(".css"):
            # a stylesheet may pull fonts or images: those must be local (or inline data) too
            assert not _external(
                [u for u in _CSS_URL.findall(loaded.text) if not u.startswith("data:")]
            )


async def test_swagger_ui_and_redoc_are_really_there(client: httpx.AsyncClient) -> None:
    swagger = await client.get("/docs")
    assert "swagger-ui-bundle.js" in swagger.text
    assert "SwaggerUIBundle(" in swagger.text
    assert "/openapi.json" in swagger.text
    bundle_src = re.search(r'src="([^"]*swagger-ui-bundle\.js)"', swagger.text)
    assert bundle_src is not None
    bundle = await client.get(bundle_src[1])
    assert len(bundle.content) > 500_000  # the whole Swagger UI, not a stub
    redoc = await client.get("/redoc")
    assert 'spec-url="/openapi.json"' in redoc.text
    redoc_src = re.search(r'src="([^"]*redoc[^"]*\.js)"', redoc.text)
    assert redoc_src is not None
    script = await client.get(redoc_src[1])
    assert len(script.content) > 500_000


async def test_the_docs_csp_allows_their_own_inline_script_by_nonce_only(
    client: httpx.AsyncClient,
) -> None:
    first = await client.get("/docs")
    second = await client.get("/docs")
    csp = first.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp)
    assert nonce is not None
    assert "default-src 'none'" in csp
    assert "script-src 'self' 'nonce-" in csp
    assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";", 1)[0]
    assert "unsafe-eval" not in csp
    scripts = re.findall(r"<script[^>]*>", first.text)
    assert scripts
    assert all(f'nonce="{nonce[1]}"' in tag for tag in scripts)
    assert second.headers["content-security-policy"] != csp  # a fresh nonce on every page


async def test_root_points_to_the_docs(client: httpx.AsyncClient) -> None:
    answer = await client.get("/")
    assert answer.status_code in (302, 307)
    assert answer.headers["location"] == "/docs"
    followed = await client.get("/", follow_redirects=True)
    assert followed.status_code == 200
    assert "Swagger UI" in followed.text
