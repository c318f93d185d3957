"""Webhooks: subscriptions, signed deliveries to a real receiver, retries with backoff, the
delivery log, manual retry, auto-disable, leases, and the SSRF rule."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import random
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks.webhooks import Webhook as StandardWebhook

from app.core.config import Settings
from app.core.db import utcnow
from app.events import service
from app.events.models import WebhookDelivery
from app.events.worker import DeliveryPolicy, DeliveryWorker
from app.main import create_app
from tests.conftest import Staff
from tests.events.receiver import Receiver
from tests.referrals.factories import new_client

FAST = DeliveryPolicy(timeout_s=5, retry_base_s=0.001, allow_private=True, poll_s=0.01)


def worker_for(maker: async_sessionmaker[AsyncSession], **changes: Any) -> DeliveryWorker:
    policy = DeliveryPolicy(**{**FAST.__dict__, **changes})
    return DeliveryWorker(maker, policy)


async def subscribe(
    http: httpx.AsyncClient, admin: dict[str, str], url: str, types: list[str] | None = None
) -> dict[str, Any]:
    response = await http.post(
        "/v1/webhooks", json={"url": url, "event_types": types or ["client.created"]}, headers=admin
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def deliveries(
    http: httpx.AsyncClient, admin: dict[str, str], webhook_id: str
) -> list[dict[str, Any]]:
    response = await http.get(f"/v1/webhooks/{webhook_id}/deliveries", headers=admin)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def drain(worker: DeliveryWorker, rounds: int = 20) -> None:
    try:
        for _ in range(rounds):
            await worker.run_once()
    finally:
        await worker.close()


# ---- subscriptions -----------------------------------------------------------------------------


async def test_create_read_patch_delete(client: httpx.AsyncClient, staff: Staff) -> None:
    admin = staff.headers("admin")
    hook = await subscribe(client, admin, "https://hooks.example.com/in", ["session.signed"])
    assert hook["active"] is True
    assert hook["event_types"] == ["session.signed"]
    secret = hook["secret"]
    assert secret.startswith("whsec_")
    assert 24 <= len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) <= 64
    read = await client.get(f"/v1/webhooks/{hook['id']}", headers=admin)
    assert read.status_code == 200
    assert read.headers["etag"] == '"1"'
    assert "secret" not in read.json()
    listed = (await client.get("/v1/webhooks", headers=admin)).json()["items"]
    assert [w["id"] for w in listed] == [hook["id"]]

    no_match = await client.patch(
        f"/v1/webhooks/{hook['id']}", json={"active": False}, headers=admin
    )
    assert no_match.status_code == 428
    patched = await client.patch(
        f"/v1/webhooks/{hook['id']}",
        json={"active": False, "event_types": ["client.created", "session.signed"]},
        headers={**admin, "If-Match": '"1"'},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["active"] is False
    assert patched.json()["version"] == 2
    server_owned = await client.patch(
        f"/v1/webhooks/{hook['id']}", json={"secret": "x"}, headers={**admin, "If-Match": '"2"'}
    )
    assert server_owned.status_code == 422
    assert (await client.delete(f"/v1/webhooks/{hook['id']}", headers=admin)).status_code == 204
    assert (await client.get(f"/v1/webhooks/{hook['id']}", headers=admin)).status_code == 404


async def test_secrets_given_or_refused(client: httpx.AsyncClient, staff: Staff) -> None:
    admin = staff.headers("admin")

    def secret(size: int) -> str:
        return "whsec_" + base64.b64encode(bytes(range(size))).decode()

    for size, status in ((23, 422), (24, 201), (64, 201), (65, 422)):
        body = {"url": "https://h.example.com/", "event_types": ["client.created"]}
        response = await client.post(
            "/v1/webhooks", json={**body, "secret": secret(size)}, headers=admin
        )
        assert response.status_code == status, (size, response.text)
        if status == 201:
            assert response.json()["secret"] == secret(size)
    for bad in ("nothing", "whsec_***", secret(32).removeprefix("whsec_")):
        body = {"url": "https://h.example.com/", "event_types": ["client.created"], "secret": bad}
        assert (await client.post("/v1/webhooks", json=body, headers=admin)).status_code == 422
    unknown = {"url": "https://h.example.com/", "event_types": ["client.deleted"]}
    assert (await client.post("/v1/webhooks", json=unknown, headers=admin)).status_code == 422
    empty = {"url": "https://h.example.com/", "event_types": []}
    assert (await client.post("/v1/webhooks", json=empty, headers=admin)).status_code == 422


@pytest.fixture
def production_app(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> FastAPI:
    strict = settings.model_copy(update={"webhook_allow_private": False})
    return create_app(strict, sessionmaker=sessionmaker)


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("http://93.184.216.34/hook", 422),  # production: https only
        ("https://127.0.0.1/hook", 422),
        ("https://localhost/hook", 422),
        ("https://[::1]/hook", 422),
        ("https://10.1.2.3/hook", 422),
        ("https://192.168.0.10/hook", 422),
        ("https://172.16.0.1/hook", 422),
        ("https://169.254.169.254/latest/meta-data", 422),
        ("https://[::ffff:127.0.0.1]/hook", 422),
        ("https://0.0.0.0/hook", 422),
        ("ftp://93.184.216.34/hook", 422),
        ("https://93.184.216.34/hook", 201),
    ],
)
async def test_ssrf_rule_when_private_addresses_are_not_allowed(
    production_app: FastAPI, staff: Staff, url: str, status: int
) -> None:
    transport = httpx.ASGITransport(app=production_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://careplan.test") as http:
        admin = staff.headers("admin")
        body = {"url": url, "event_types": ["client.created"]}
        response = await http.post("/v1/webhooks", json=body, headers=admin)
        assert response.status_code == status, response.text
        if status == 422:
            assert response.json()["errors"][0]["loc"] == ["body", "url"]
        else:
            patch = await http.patch(
                f"/v1/webhooks/{response.json()['id']}",
                json={"url": "https://127.0.0.1/x"},
                headers={**admin, "If-Match": '"1"'},
            )
            assert patch.status_code == 422


async def test_private_addresses_allowed_in_test_settings(
    client: httpx.AsyncClient, staff: Staff
) -> None:
    hook = await subscribe(client, staff.headers("admin"), "http://127.0.0.1:9/hook")
    assert hook["url"] == "http://127.0.0.1:9/hook"


# ---- delivery ----------------------------------------------------------------------------------


async def test_delivery_is_signed_both_ways(
    client: httpx.AsyncClient, staff: Staff, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    admin = staff.headers("admin")
    with Receiver() as receiver:
        hook = await subscribe(client, admin, receiver.url)
        client_id = await new_client(client, admin)
        await drain(worker_for(sessionmaker), rounds=2)
    assert len(receiver.received) == 1
    got = receiver.received[0]
    event = (await client.get("/v1/events", headers=admin)).json()["items"][0]
    assert json.loads(got.body) == event
    assert event["resource_id"] == client_id
    assert got.headers["content-type"] == "application/json"
    # Careplan-Signature: t=<unix>,v1=<hex HMAC-SHA256("<t>.<body>") keyed by the secret's bytes>
    parts = dict(item.split("=", 1) for item in got.headers["careplan-signature"].split(","))
    assert abs(int(parts["t"]) - int(utcnow().timestamp())) < 60
    expected = hmac.new(
        hook["secret"].encode(), parts["t"].encode() + b"." + got.body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected)
    # Standard Webhooks, verified as a receiver would
    assert got.headers["webhook-id"] == event["id"]
    assert got.headers["webhook-timestamp"] == parts["t"]
    verified = StandardWebhook(hook["secret"]).verify(got.body, got.headers)
    assert verified == event
    with pytest.raises(Exception, match="[Ss]ignature"):
        StandardWebhook(hook["secret"]).verify(got.body + b" ", got.headers)
    log = await deliveries(client, admin, hook["id"])
    assert len(log) == 1
    assert log[0]["state"] == "succeeded"
    assert log[0]["event_id"] == event["id"]
    assert [a["status_code"] for a in log[0]["attempts"]] == [200]
    assert log[0]["attempts"][0]["error"] is None
    assert log[0]["attempts"][0]["duration_ms"] >= 0


async def test_only_wanted_types_and_active_webhooks_get_deliveries(
    client: httpx.AsyncClient, staff: Staff, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    admin = staff.headers("admin")
    with Receiver() as receiver:
        wanted = await subscribe(client, admin, receiver.url + "/a", ["client.updated"])
        off = await subscribe(client, admin, receiver.url + "/b", ["client.created"])
        await client.patch(
            f"/v1/webhooks/{off['id']}",
            json={"active": False},
            headers={**admin, "If-Match": '"1"'},
        )
        client_id = await new_client(client, admin)
        await client.patch(
            f"/v1/clients/{client_id}", json={"notes": "n"}, headers={**admin, "If-Match": '"1"'}
        )
        await drain(worker_for(sessionmaker), rounds=2)
    assert [(r.path, json.loads(r.body)["type"]) for r in receiver.received] == [
        ("/hook/a", "client.updated")
    ]
    assert len(await deliveries(client, admin, wanted["id"])) == 1
    assert await deliveries(client, admin, off["id"]) == []


async def test_failure_timeout_then_recovery(
    client: httpx.AsyncClient, staff: Staff, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    admin = staff.headers("admin")
    with Receiver(["fail", "timeout"], hold_s=3) as receiver:
        hook = await subscribe(client, admin, receiver.url)
        await new_client(client, admin)
        await drain(worker_for(sessionmaker, timeout_s=1), rounds=6)
    assert len(receiver.received) == 3
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    (log,) = await deliveries(client, admin, hook["id"])
    assert log["state"] == "succeeded"
    assert log["attempt_count"] == 3
    attempts = log["attempts"]
    assert [a["status_code"] for a in attempts] == [500, None, 200]
    assert attempts[0]["error"] == "HTTP 500"
    assert attempts[1]["error"] == "no response within 1 s"
    assert 950 <= attempts[1]["duration_ms"] < 3000
    assert attempts[2]["error"] is None
    webhook = (await client.get(f"/v1/webhooks/{hook['id']}", headers=admin)).json()
    assert webhook["consecutive_failures"] == 0


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    rng = random.Random(1)
    for attempt, low in ((1, 30), (2, 60), (3, 120), (8, 3840)):
        waits = [service.backoff(attempt, 30, rng).total_seconds() for _ in range(200)]
        assert all(low / 2 <= w < low for w in waits), attempt
        assert max(waits) - min(waits) > low / 10  # jittered, not fixed
    capped = [service.backoff(50, 30, rng).total_seconds() for _ in range(50)]
    assert all(3 * 3600 <= w < 6 * 3600 for w in capped)


async def expire_window(maker: async_sessionmaker[AsyncSession]) -> None:
    async with maker() as db:
        await db.execute(
            update(WebhookDelivery).values(deadline_at=utcnow() - dt.timedelta(seconds=1))
        )
        await db.commit()


async def test_failed_after_the_window_and_disabled_after_five_in_a_row(
    client: httpx.AsyncClient, staff: Staff, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    admin = staff.headers("admin")
    with Receiver(default="fail") as receiver:
        hook = await subscribe(client, admin, receiver.url)
        for i in range(4):
            await new_client(client, admin, given_name=f"C{i}")
        worker = worker_for(sessionmaker)
        await service_fan_out(sessionmaker)
        await expire_window(sessionmaker)
        await drain(worker, rounds=2)
        webhook = (await client.get(f"/v1/webhooks/{hook['id']}", headers=admin)).json()
        assert webhook["consecutive_failures"] == 4
        assert webhook["active"] is True
        log = await deliveries(client, admin, hook["id"])
        assert [d["state"] for d in log] == ["failed"] * 4
        assert all(d["next_attempt_at"] is None for d in log)

        await new_client(client, admin, given_name="C4")
        await service_fan_out(sessionmaker)
        await expire_window(sessionmaker)
        await drain(worker_for(sessionmaker), rounds=2)
    webhook = (await client.get(f"/v1/webhooks/{hook['id']}", headers=admin)).json()
    assert webhook["consecutive_failures"] == 5
    assert webhook["active"] is False
    assert len(receiver.received) == 5


async def service_fan_out(maker: async_sessionmaker[AsyncSession]) -> None:
    async with maker() as db:
        await service.fan_out(db, utcnow())
        await db.commit()


async def test_failures_within_the_window_are_retried_later(
    client: httpx.AsyncClient, staff: Staff, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    admin = staff.headers("admin")
    with Receiver(default="fail") as receiver:
        hook = await subscribe(client, admin, receiver.url)
        await new_client(client, admin)
        await drain(worker_for(sessionmaker, retry_base_s=3600), rounds=3)
    assert len(receiver.received) == 1  # the next try is an hour or so away
    (log,) = await deliveries(client, admin, hook["id"])
    assert log["state"] == "pending"
    wait = dt.datetime.fromisoformat(log["next_attempt_at"]) - utcnow()
    assert dt.timedelta(minutes=29) < wait <= dt.timedelta(hours=1)


async def test_manual_retry(
    client: httpx.AsyncClient, staff: Staff, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    admin = staff.headers("admin")
    with Receiver(["fail"]) as receiver:
        hook = await subscribe(client, admin, receiver.url)
        await new_client(client, admin)
        await service_fan_out(sessionmaker)
        await expire_window(sessionmaker)
        await drain(worker_for(sessionmaker), rounds=2)
        (log,) = await deliveries(client, admin, hook["id"])
        assert log["state"] == "failed"
        url = f"/v1/webhooks/{hook['id']}/deliveries/{log['id']}/retry"
        retried = await client.post(url, headers=admin)
        assert retried.status_code == 202, retried.text
        assert retried.json()["state"] == "pending"
        await drain(worker_for(sessionmaker), rounds=2)
        other = await subscribe(client, admin, receiver.url)
        elsewhere = f"/v1/webhooks/{other['id']}/deliveries/{log['id']}/retry"
        assert (await client.post(elsewhere, headers=admin)).status_code == 404
    (log,) = await deliveries(client, admin, hook["id"])
    assert log["state"] == "succeeded"
    assert [a["status_code"] for a in log["attempts"]] == [500, 200]
    assert len(receiver.received) == 2


async def test_a_lease_keeps_others_off_until_it_expires(
    client: httpx.AsyncClient, staff: Staff, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    admin = staff.headers("admin")
    await subscribe(client, admin, "http://127.0.0.1:9/hook")
    await new_client(client, admin)
    await service_fan_out(sessionmaker)
    lease = dt.timedelta(seconds=60)
    now = utcnow()
    async with sessionmaker() as db:
        (first,) = await service.claim_due(db, now, lease, 10)
        await db.commit()
    # its worker dies here; until the lease runs out nobody else sends it
    async with sessionmaker() as db:
        assert await service.claim_due(db, now + dt.timedelta(seconds=59), lease, 10) == []
        (again,) = await service.claim_due(db, now + dt.timedelta(seconds=61), lease, 10)
        await db.commit()
    assert again.delivery_id == first.delivery_id
    assert again.token != first.token
    # the first worker's late report is logged but does not move the delivery
    async with sessionmaker() as db:
        await service.record_attempt(db, first, service.Outcome(200, None, 5), utcnow(), 1.0)
        await db.commit()
        delivery = await db.scalar(select(WebhookDelivery))
        assert delivery is not None
        assert delivery.state == "in_flight"
        assert delivery.attempt_count == 2


async def test_a_private_address_is_refused_at_delivery_time(
    client: httpx.AsyncClient, staff: Staff, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    admin = staff.headers("admin")
    with Receiver() as receiver:
        hook = await subscribe(client, admin, receiver.url)
        await new_client(client, admin)
        await drain(worker_for(sessionmaker, allow_private=False, retry_base_s=3600), rounds=2)
    assert receiver.received == []
    (log,) = await deliveries(client, admin, hook["id"])
    assert log["attempts"][0]["status_code"] is None
    assert log["attempts"][0]["error"].startswith("refused: ")
    assert uuid.UUID(log["id"])
