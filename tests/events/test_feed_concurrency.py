"""Many writers commit out of order while a reader walks the feed: it sees every event once.

Each writer inserts a client, sleeps at random inside its transaction, and sleeps again right
before COMMIT (after its event row has its number): exactly the window in which a transaction
that numbered its event early commits late. Without the sequencer lock of `app.events.outbox`,
the reader on PostgreSQL passes such an event with its cursor and never sees it.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.util import await_only

from app.clients.models import Client
from app.core.db import create_engine, make_sessionmaker, utcnow
from app.events import service
from tests.databases import migrate, recreate_database, variant_url

WRITERS = 12
CHANGES_PER_WRITER = 10
ROUNDS = 3


@pytest.fixture
async def feed_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    url = variant_url(database_url, "feed")
    await recreate_database(url)
    await migrate(url)
    engine = create_engine(url, pool_size=WRITERS + 4)
    rng = random.Random(8)

    @event.listens_for(engine.sync_engine, "commit")
    def _late_commit(_conn: Connection) -> None:
        # after the transaction's statements (its events numbered), before COMMIT
        await_only(asyncio.sleep(rng.random() * 0.01))

    yield engine
    await engine.dispose()


async def one_round(
    maker: async_sessionmaker[AsyncSession], after: str | None, rng: random.Random
) -> tuple[list[uuid.UUID], list[str], str | None]:
    """Writers and a reader at once; returns what was written, what was read, the cursor."""
    expected: list[uuid.UUID] = []
    seen: list[str] = []
    done = asyncio.Event()

    async def writer() -> None:
        for _ in range(CHANGES_PER_WRITER):
            async with maker() as db:
                row = Client(given_name="Conc", family_name="Urrent")
                db.add(row)
                await db.flush()
                await asyncio.sleep(rng.random() * 0.02)
                await db.commit()
                expected.append(row.id)

    async def writers() -> None:
        await asyncio.gather(*(writer() for _ in range(WRITERS)))
        done.set()

    async def reader() -> None:
        nonlocal after
        while True:
            finished = done.is_set()
            async with maker() as db:
                events, after = await service.read_feed(db, after, 7, [], 90, utcnow())
                await db.commit()
            seen.extend(str(e.resource_id) for e in events)
            if finished and not events:
                return
            if not events:
                await asyncio.sleep(0.001)

    await asyncio.gather(reader(), writers())
    return expected, seen, after


async def test_reader_sees_every_event_exactly_once(feed_engine: AsyncEngine) -> None:
    maker = make_sessionmaker(feed_engine)
    rng = random.Random(42)
    after: str | None = None
    for round_no in range(ROUNDS):
        expected, seen, after = await one_round(maker, after, rng)
        counts = Counter(seen)
        assert len(expected) == WRITERS * CHANGES_PER_WRITER
        missing = {str(i) for i in expected} - set(counts)
        assert not missing, f"round {round_no}: the reader skipped {len(missing)} events"
        assert set(counts) == {str(i) for i in expected}
        assert max(counts.values()) == 1
