"""Who the client is: the direct peer, or what trusted proxies say in X-Forwarded-For. One
answer, fed to the login throttle, the audit trail and the access log."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.models import AuditEvent
from app.core.config import Settings
from app.core.context import client_address, parse_trusted_proxies
from app.main import create_app
from tests import factories
from tests.conftest import Staff
from tests.core.problems import assert_problem

PROXIES = parse_trusted_proxies("10.0.0.0/8, 192.0.2.1, 2001:db8::/32")


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        # an untrusted peer is the client, whatever it claims
        ("203.0.113.5", ["198.51.100.1"], "203.0.113.5"),
        ("11.0.0.1", ["198.51.100.1"], "11.0.0.1"),
        # a trusted proxy's word is taken
        ("10.0.0.1", ["198.51.100.1"], "198.51.100.1"),
        ("192.0.2.1", ["198.51.100.1"], "198.51.100.1"),
        ("2001:db8::1", ["2001:db9::7"], "2001:db9::7"),
        # read from the right: what the client wrote itself (left of its own address) is ignored
        ("10.0.0.1", ["6.6.6.6, 198.51.100.1, 10.0.0.2"], "198.51.100.1"),
        ("10.0.0.1", ["6.6.6.6", "198.51.100.1, 10.0.0.2"], "198.51.100.1"),
        ("10.0.0.1", ["garbage, 198.51.100.1"], "198.51.100.1"),
        # only trusted hops: the leftmost is the client
        ("10.0.0.1", ["10.1.1.1, 10.2.2.2"], "10.1.1.1"),
        # a proxy wrote no address where one should be: the walk stops at the last proxy
        ("10.0.0.1", ["198.51.100.1, not-an-ip"], "10.0.0.1"),
        ("10.0.0.1", [], "10.0.0.1"),
        ("10.0.0.1", [" , "], "10.0.0.1"),
        (None, ["198.51.100.1"], None),
    ],
)
def test_client_address(peer: str | None, forwarded: list[str], expected: str | None) -> None:
    assert client_address(peer, forwarded, PROXIES) == expected


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert client_address("10.0.0.1", ["198.51.100.1"], ()) == "10.0.0.1"
    assert client_address("127.0.0.1", ["198.51.100.1"], ()) == "127.0.0.1"


@pytest.mark.parametrize("setting", ["10.0.0.0/33", "proxy.example", "10.0.0.1,,nonsense"])
def test_bad_trusted_proxies_are_refused(setting: str, database_url: str) -> None:
    with pytest.raises(ValueError, match="not an IP address or network"):
        parse_trusted_proxies(setting)
    with pytest.raises(ValidationError, match="CAREPLAN_TRUSTED_PROXIES|trusted_proxies"):
        Settings.model_validate({"DATABASE_URL": database_url, "CAREPLAN_TRUSTED_PROXIES": setting})


def test_the_default_trusts_no_proxy(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAREPLAN_TRUSTED_PROXIES", raising=False)
    settings = Settings.model_validate({"DATABASE_URL": database_url})
    assert parse_trusted_proxies(settings.trusted_proxies) == ()


@asynccontextmanager
async def behind(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], trusted: str
) -> AsyncIterator[httpx.AsyncClient]:
    """An app that trusts `trusted`, reached from 127.0.0.1 (the test transport's peer)."""
    configured = settings.model_copy(update={"trusted_proxies": trusted, "access_log": True})
    app: FastAPI = create_app(configured, sessionmaker=sessionmaker)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://careplan.test") as http:
        yield http


async def audited_ip(sessionmaker: async_sessionmaker[AsyncSession], request_id: str) -> str:
    async with sessionmaker() as session:
        ips = set(
            (
                await session.scalars(
                    select(AuditEvent.ip).where(AuditEvent.request_id == request_id)
                )
            ).all()
        )
    assert len(ips) == 1, ips
    (ip,) = ips
    assert ip is not None
    return ip


@pytest.mark.parametrize(
    ("trusted", "expected"), [("127.0.0.1", "198.51.100.9"), ("", "127.0.0.1")]
)
async def test_audit_events_and_the_access_log_record_the_same_address(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    staff: Staff,
    caplog: pytest.LogCaptureFixture,
    trusted: str,
    expected: str,
) -> None:
    async with behind(settings, sessionmaker, trusted) as http:
        headers = {**staff.headers("admin"), "X-Forwarded-For": "198.51.100.9"}
        with caplog.at_level(logging.INFO, logger="careplan.access"):
            created = await http.post("/v1/clients", json=factories.client(), headers=headers)
            denied = await http.get(
                "/v1/users",
                headers={**staff.headers("therapist"), "X-Forwarded-For": "198.51.100.9"},
            )
    assert created.status_code == 201, created.text
    assert_problem(denied, 403, "forbidden")
    for response in (created, denied):
        assert await audited_ip(sessionmaker, response.headers["x-request-id"]) == expected
    logged = [getattr(r, "client_ip", None) for r in caplog.records if r.name == "careplan.access"]
    assert logged == [expected, expected]


async def test_the_login_throttle_counts_the_address_trusted_proxies_report(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    client: httpx.AsyncClient,
    staff: Staff,
) -> None:
    password = "correct horse battery staple"
    created = await client.post(
        "/v1/users",
        json={
            "email": "p@x.example",
            "password": password,
            "display_name": "P",
            "role": "front_desk",
        },
        headers=staff.headers("admin"),
    )
    assert created.status_code == 201, created.text

    async def login(http: httpx.AsyncClient, forwarded: str, secret: str) -> httpx.Response:
        return await http.post(
            "/v1/auth/token",
            data={"username": "p@x.example", "password": secret},
            headers={"X-Forwarded-For": forwarded},
        )

    async with behind(settings, sessionmaker, "127.0.0.1") as http:
        for _ in range(5):
            assert_problem(
                await login(http, "203.0.113.1", "wrong wrong wrong"), 401, "unauthorized"
            )
        assert_problem(await login(http, "203.0.113.1", password), 429, "rate-limited")
        # another client behind the same proxy is not the guesser
        assert (await login(http, "203.0.113.2", password)).status_code == 200
