"""Outbox benchmark: changes committed per second with and without the transactional outbox.

Runs `--writers` concurrent writers, each committing one new client per transaction (one ORM
session each, as a request does) for `--duration` seconds, in phases A (outbox on: the change
and its `client.created` event, numbered under the sequencer lock, in one transaction) and B
(outbox listeners removed: the change alone), alternating A B A B so that drift of the machine
shows. Prints one row per phase: commits, commits/s, events written, events/s.

Usage, from the project folder:

    .venv/bin/python bench/outbox_bench.py                                     # PostgreSQL
    .venv/bin/python bench/outbox_bench.py --database-url sqlite:////tmp/outbox-bench.db

The PostgreSQL database (default postgresql://postgres@127.0.0.1:5432/careplan_bench_outbox) is
dropped and created fresh, and dropped again at the end: never point it at one you want to keep.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from alembic import command
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from app.cli import alembic_config
from app.clients.models import Client
from app.core.db import create_engine, make_sessionmaker
from app.events import outbox
from app.events.models import Event

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.databases import drop, recreate  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/careplan_bench_outbox"


def outbox_on(on: bool) -> None:
    listeners = (
        (Session, "after_flush", outbox.note_events),
        (Session, "before_commit", outbox.write_events),
    )
    for target, name, fn in listeners:
        if on and not event.contains(target, name, fn):
            event.listen(target, name, fn)
        if not on and event.contains(target, name, fn):
            event.remove(target, name, fn)


async def phase(url: str, writers: int, duration: float) -> tuple[int, int]:
    engine = create_engine(url, pool_size=writers)
    maker = make_sessionmaker(engine)
    async with maker() as db:
        events_before = await db.scalar(select(func.count()).select_from(Event)) or 0
    stop_at = time.perf_counter() + duration
    commits = 0

    async def writer() -> None:
        nonlocal commits
        while time.perf_counter() < stop_at:
            async with maker() as db:
                db.add(Client(given_name="Bench", family_name="Outbox"))
                await db.commit()
            commits += 1

    await asyncio.gather(*(writer() for _ in range(writers)))
    async with maker() as db:
        events_after = await db.scalar(select(func.count()).select_from(Event)) or 0
    await engine.dispose()
    return commits, events_after - events_before


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--phases", default="ABAB")
    args = parser.parse_args()
    await recreate(args.database_url)
    try:
        await asyncio.to_thread(command.upgrade, alembic_config(args.database_url), "head")
        print(f"{args.writers} writers, {args.duration:g} s a phase, {args.database_url}")
        print(f"{'phase':<14}{'commits':>9}{'commits/s':>11}{'events':>9}{'events/s':>10}")
        await phase(args.database_url, args.writers, 1.0)  # warm up
        for name in args.phases:
            outbox_on(name == "A")
            commits, events = await phase(args.database_url, args.writers, args.duration)
            label = "A outbox" if name == "A" else "B no outbox"
            print(
                f"{label:<14}{commits:>9}{commits / args.duration:>11.0f}"
                f"{events:>9}{events / args.duration:>10.0f}"
            )
        outbox_on(True)
    finally:
        await drop(args.database_url)


if __name__ == "__main__":
    asyncio.run(main())
