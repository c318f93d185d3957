"""Workers as deployed: two at once never send one attempt twice; a `careplan worker` killed
with SIGKILL mid-delivery loses nothing once a worker runs again (at least once)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.clients.models import Client
from app.core.db import create_engine, make_sessionmaker
from app.events import service
from app.events.models import Webhook
from app.events.worker import DeliveryPolicy, DeliveryWorker
from tests.databases import migrate, recreate_database, variant_url
from tests.events.receiver import Receiver

EVENTS = 60


@pytest.fixture
async def workers_db(database_url: str) -> str:
    url = variant_url(database_url, "workers")
    await recreate_database(url)
    await migrate(url)
    return url


async def subscribe_and_write(
    maker: async_sessionmaker[AsyncSession], url: str, events: int
) -> None:
    async with maker() as db:
        db.add(Webhook(url=url, event_types=["client.created"], secret=service.generate_secret()))
        await db.commit()
    for i in range(events):
        async with maker() as db:
            db.add(Client(given_name=f"Client {i}", family_name="Worker"))
            await db.commit()


async def test_two_workers_never_send_one_attempt_twice(workers_db: str) -> None:
    setup = create_engine(workers_db, pool_size=2)
    engines = [create_engine(workers_db, pool_size=4) for _ in range(2)]
    policy = DeliveryPolicy(timeout_s=5, allow_private=True, batch=5)
    try:
        with Receiver(delay_s=0.01) as receiver:
            await subscribe_and_write(make_sessionmaker(setup), receiver.url, EVENTS)
            workers = [DeliveryWorker(make_sessionmaker(e), policy) for e in engines]

            async def run(worker: DeliveryWorker) -> int:
                sent = 0
                for _ in range(200):
                    sent += await worker.run_once()
                    if len(receiver.received) >= EVENTS:
                        break
                await worker.close()
                return sent

            sent = await asyncio.gather(*(run(w) for w in workers))
        ids = Counter(r.headers["webhook-id"] for r in receiver.received)
        assert len(ids) == EVENTS
        assert max(ids.values()) == 1, "an attempt was sent twice"
        assert sum(sent) == EVENTS
    finally:
        for engine in (setup, *engines):
            await engine.dispose()


def start_worker(url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "CAREPLAN_ENV": "test",
        "CAREPLAN_SECRET_KEY": "test-secret-key-for-the-careplan-suite-0123456789",
        "CAREPLAN_WEBHOOK_LEASE_SECONDS": "2",
        "CAREPLAN_WEBHOOK_POLL_SECONDS": "0.05",
        # an attempt cut off by the kill is retried soon, not after the production back-off
        "CAREPLAN_WEBHOOK_RETRY_BASE_SECONDS": "1",
        "CAREPLAN_LOG_LEVEL": "WARNING",
    }
    command = [str(Path(sys.executable).with_name("careplan")), "worker"]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def wait_for(predicate: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)


async def test_killed_worker_then_restart_delivers_every_event(workers_db: str) -> None:
    setup = create_engine(workers_db, pool_size=2)
    try:
        with Receiver(delay_s=0.05) as receiver:
            await subscribe_and_write(make_sessionmaker(setup), receiver.url, EVENTS)
            first = start_worker(workers_db)
            try:
                await wait_for(lambda: len(receiver.received) >= 10, 60)
            finally:
                first.send_signal(signal.SIGKILL)
                first.wait(10)
            before_restart = len({r.headers["webhook-id"] for r in receiver.received})
            assert before_restart < EVENTS, "the worker finished before it was killed"
            restarted = time.monotonic()
            second = start_worker(workers_db)
            try:
                await wait_for(
                    lambda: len({r.headers["webhook-id"] for r in receiver.received}) >= EVENTS,
                    180,  # a liveness bound: the command starts slowly on a busy machine
                )
            finally:
                second.send_signal(signal.SIGTERM)
                assert second.wait(20) == 0, second.stderr.read() if second.stderr else ""
            recovered_s = time.monotonic() - restarted
        ids = Counter(r.headers["webhook-id"] for r in receiver.received)
        assert len(ids) == EVENTS
        # figures for bench/README.md (shown with `pytest -s`)
        print(
            f"\nkill -9: {EVENTS} events, {before_restart} delivered before the kill, "
            f"{len(receiver.received)} requests in all ({len(receiver.received) - EVENTS} "
            f"sent again), every event delivered {recovered_s:.1f} s after the restart"
        )
    finally:
        await setup.dispose()
