"""The login throttle: per account and address, per address, per account; counters in the
database, shared by every worker; Retry-After; the window's edges."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.models import LoginFailure
from app.core.config import Settings
from app.core.db import utcnow
from app.main import create_app
from tests.conftest import Staff
from tests.core.problems import assert_problem

PASSWORD = "correct horse battery staple"
WRONG = "guess guess guess"
VICTIM = "pat@clinic.example"
# the limits, written out: 5 per account and address, 20 per address, 50 per account, 15 min
PAIR_LIMIT = 5
ADDRESS_LIMIT = 20
ACCOUNT_LIMIT = 50
WINDOW = dt.timedelta(minutes=15)


@asynccontextmanager
async def from_address(app: FastAPI, ip: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(ip, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://careplan.test") as http:
        yield http


async def login(http: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await http.post("/v1/auth/token", data={"username": username, "password": password})


@pytest.fixture
async def victim(client: httpx.AsyncClient, staff: Staff) -> None:
    for email in (VICTIM, "own@clinic.example"):
        response = await client.post(
            "/v1/users",
            json={"email": email, "password": PASSWORD, "display_name": "P", "role": "front_desk"},
            headers=staff.headers("admin"),
        )
        assert response.status_code == 201, response.text


async def fail(http: httpx.AsyncClient, username: str = VICTIM) -> None:
    assert_problem(await login(http, username, WRONG), 401, "unauthorized")


@pytest.mark.usefixtures("victim")
async def test_one_address_guessing_one_account_is_throttled_there_only(app: FastAPI) -> None:
    async with from_address(app, "203.0.113.7") as stranger:
        for _ in range(PAIR_LIMIT):
            await fail(stranger)
        throttled = await login(stranger, VICTIM, WRONG)
        assert_problem(throttled, 429, "rate-limited")
        assert 1 <= int(throttled.headers["retry-after"]) <= WINDOW.total_seconds()
        # even the right password waits: guessing must not reveal it
        assert_problem(await login(stranger, VICTIM, PASSWORD), 429, "rate-limited")
        # the stranger's address may still log into other accounts
        assert (await login(stranger, "own@clinic.example", PASSWORD)).status_code == 200
    # and the real user, from their own address, is not locked out by a stranger's failures
    async with from_address(app, "198.51.100.20") as real_user:
        assert (await login(real_user, "PAT@clinic.example", PASSWORD)).status_code == 200


@pytest.mark.usefixtures("victim")
async def test_throttled_attempts_are_not_counted(
    app: FastAPI, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with from_address(app, "203.0.113.7") as stranger:
        for _ in range(PAIR_LIMIT):
            await fail(stranger)
        for _ in range(3):
            assert_problem(await login(stranger, VICTIM, WRONG), 429, "rate-limited")
    async with sessionmaker() as session:
        stored = await session.scalar(select(func.count()).select_from(LoginFailure))
    assert stored == PAIR_LIMIT


@pytest.mark.usefixtures("victim")
async def test_one_address_spraying_many_accounts_is_throttled(app: FastAPI) -> None:
    async with from_address(app, "203.0.113.8") as sprayer:
        for n in range(ADDRESS_LIMIT - 1):
            await fail(sprayer, f"user{n}@clinic.example")
        # one below the address limit: still answered
        await fail(sprayer, "another@clinic.example")
        assert_problem(await login(sprayer, "own@clinic.example", PASSWORD), 429, "rate-limited")
        assert_problem(await login(sprayer, "never-tried@x.example", WRONG), 429, "rate-limited")
    async with from_address(app, "198.51.100.21") as elsewhere:
        assert (await login(elsewhere, "own@clinic.example", PASSWORD)).status_code == 200


@pytest.mark.usefixtures("victim")
async def test_an_ipv6_subscriber_cannot_dodge_the_limit_by_hopping_addresses(
    app: FastAPI,
) -> None:
    for n in range(PAIR_LIMIT):
        async with from_address(app, f"2001:db8:1:2::{n + 1:x}") as hop:
            await fail(hop)
    async with from_address(app, "2001:db8:1:2:ffff::1") as same_64:
        assert_problem(await login(same_64, VICTIM, WRONG), 429, "rate-limited")
    async with from_address(app, "2001:db8:1:3::1") as other_64:
        await fail(other_64)


@pytest.mark.usefixtures("victim")
async def test_guessing_one_account_from_many_addresses_is_throttled(app: FastAPI) -> None:
    """50 failures from all addresses together close the account for everyone, for a while;
    49 do not."""
    addresses = [f"192.0.2.{n}" for n in range(1, ACCOUNT_LIMIT // PAIR_LIMIT + 1)]
    for index, ip in enumerate(addresses):
        async with from_address(app, ip) as http:
            for attempt in range(PAIR_LIMIT):
                if index == len(addresses) - 1 and attempt == PAIR_LIMIT - 1:
                    break  # stop at 49
                await fail(http)
    async with from_address(app, "198.51.100.30") as anyone:
        await fail(anyone)  # the 50th failure is still answered
        assert_problem(await login(anyone, VICTIM, PASSWORD), 429, "rate-limited")
    async with from_address(app, "198.51.100.31") as real_user:
        throttled = await login(real_user, VICTIM, PASSWORD)
        assert_problem(throttled, 429, "rate-limited")
        assert "for this account" in throttled.json()["detail"]
        # other accounts are not affected
        assert (await login(real_user, "own@clinic.example", PASSWORD)).status_code == 200


@pytest.mark.usefixtures("victim")
async def test_a_successful_login_forgives_only_its_own_failures(app: FastAPI) -> None:
    async with from_address(app, "203.0.113.9") as http:
        for _ in range(PAIR_LIMIT - 1):
            await fail(http)
        assert (await login(http, VICTIM, PASSWORD)).status_code == 200
        for _ in range(PAIR_LIMIT - 1):
            await fail(http)
        assert (await login(http, VICTIM, PASSWORD)).status_code == 200

    # logging into one's own account does not reset a spray from the same address
    async with from_address(app, "203.0.113.10") as sprayer:
        for n in range(ADDRESS_LIMIT - 1):
            await fail(sprayer, f"user{n}@clinic.example")
        assert (await login(sprayer, "own@clinic.example", PASSWORD)).status_code == 200
        await fail(sprayer, "user99@clinic.example")
        assert_problem(await login(sprayer, "own@clinic.example", PASSWORD), 429, "rate-limited")


@pytest.mark.usefixtures("victim")
async def test_the_window_and_retry_after(
    app: FastAPI, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Failures older than 15 minutes count for nothing; Retry-After says when the window has
    room again (when the oldest counted failure leaves it)."""
    now = utcnow()
    address = "203.0.113.11"
    async with sessionmaker() as session:
        # just outside the window: forgotten
        session.add(
            LoginFailure(at=now - WINDOW - dt.timedelta(seconds=5), account=VICTIM, address=address)
        )
        # inside: the oldest counted one leaves the window in about 5 minutes
        for minutes in (10, 8, 6, 4):
            session.add(
                LoginFailure(
                    at=now - dt.timedelta(minutes=minutes), account=VICTIM, address=address
                )
            )
        await session.commit()
    async with from_address(app, address) as http:
        await fail(http)  # the fifth failure in the window: still answered
        throttled = await login(http, VICTIM, PASSWORD)
        assert_problem(throttled, 429, "rate-limited")
        retry_after = int(throttled.headers["retry-after"])
        assert 5 * 60 - 10 <= retry_after <= 5 * 60 + 1


@pytest.mark.usefixtures("victim")
async def test_every_worker_counts_the_same_failures(
    app: FastAPI, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    other_worker = create_app(settings, sessionmaker=sessionmaker)
    async with (
        from_address(app, "203.0.113.12") as first,
        from_address(other_worker, "203.0.113.12") as second,
    ):
        for n in range(PAIR_LIMIT):
            await fail(first if n % 2 else second)
        assert_problem(await login(first, VICTIM, PASSWORD), 429, "rate-limited")
        assert_problem(await login(second, VICTIM, PASSWORD), 429, "rate-limited")


@pytest.mark.usefixtures("victim")
async def test_x_forwarded_for_from_an_untrusted_peer_does_not_dodge_the_limit(
    app: FastAPI,
) -> None:
    async with from_address(app, "203.0.113.13") as http:
        for n in range(PAIR_LIMIT):
            response = await http.post(
                "/v1/auth/token",
                data={"username": VICTIM, "password": WRONG},
                headers={"X-Forwarded-For": f"10.9.8.{n}"},
            )
            assert_problem(response, 401, "unauthorized")
        response = await http.post(
            "/v1/auth/token",
            data={"username": VICTIM, "password": PASSWORD},
            headers={"X-Forwarded-For": "10.9.8.200"},
        )
        assert_problem(response, 429, "rate-limited")
