"""The benchmark's data set, bulk-loaded into a freshly migrated database.

Sizes are the ones the request-path goal is measured at: 10 k clients, one active care plan each
with an NPRS goal, 20 completed and signed sessions per plan (200 k sessions) and two
measurements per session, before and after treatment (400 k measurements). `--sessions-per-plan`
raises the session count (100 per plan gives the 1 M-session check).

Rows go in with PostgreSQL's COPY (asyncpg), or multi-row INSERTs on SQLite, built from the
models' own tables so a new column with a default needs no change here. Sessions are written as
drafts, then their measurements, then signed in one UPDATE: the database refuses measurements
added to a signed note.

    .venv/bin/python bench/dataset.py --database-url postgresql://postgres@127.0.0.1:5432/careplan_bench
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import Table
from sqlalchemy.engine import make_url

from app.audit.models import AuditEvent  # noqa: F401  (registers the table)
from app.auth.models import ApiKey
from app.care_plans.models import CarePlan, Goal
from app.clients.models import Client, Consent
from app.core.security import api_key_digest, new_api_key
from app.directory.models import Therapist
from app.session_records.models import Measurement, SessionRecord

GIVEN = ["Ana", "Łucja", "Oskar", "Mina", "Tomás", "Zoë", "Ravi", "Ingrid", "Kwame", "Sofía"]
FAMILY = ["Okafor", "Nowak", "Haddad", "Larsen", "Moreau", "Tanaka", "Silva", "Novák", "Weiß"]
TECHNIQUES = ["effleurage", "petrissage", "myofascial release", "trigger point", "stretching"]
START = dt.datetime(2025, 1, 6, 9, 0, tzinfo=dt.UTC)
CHUNK = 5_000


@dataclass(frozen=True)
class Dataset:
    """What the load needs to know about the loaded rows."""

    admin_key: str
    client_ids: list[uuid.UUID]
    care_plan_ids: list[uuid.UUID]
    therapist_id: uuid.UUID


def _row(table: Table, values: dict[str, Any]) -> tuple[Any, ...]:
    """A full row in the table's column order: given values, else the column's default."""
    out = []
    for column in table.columns:
        if column.name in values:
            out.append(values[column.name])
            continue
        default = column.default
        value: Any = None
        if default is not None and getattr(default, "is_scalar", False):
            value = default.arg  # type: ignore[attr-defined]
        elif default is not None and getattr(default, "is_callable", False):
            try:
                value = default.arg(None)  # type: ignore[attr-defined]
            except TypeError:
                value = default.arg()  # type: ignore[attr-defined]
        out.append(value)
    return tuple(out)


class Loader:
    """COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = make_url(url).get_backend_name() == "sqlite"
        self.pg: asyncpg.Connection | None = None
        self.lite: sqlite3.Connection | None = None

    async def __aenter__(self) -> Loader:
        parsed = make_url(self.url)
        if self.sqlite:
            self.lite = sqlite3.connect(parsed.database or "careplan.db")
            self.lite.execute("PRAGMA synchronous=OFF")
        else:
            self.pg = await asyncpg.connect(
                host=parsed.host or "127.0.0.1",
                port=parsed.port or 5432,
                user=parsed.username or "postgres",
                password=parsed.password,
                database=parsed.database,
            )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.pg is not None:
            await self.pg.close()
        if self.lite is not None:
            self.lite.commit()
            self.lite.close()

    async def copy(self, table: Table, rows: Iterator[dict[str, Any]]) -> int:
        count = 0
        batch: list[tuple[Any, ...]] = []
        for values in rows:
            batch.append(_row(table, values))
            if len(batch) >= CHUNK:
                count += await self._write(table, batch)
                batch = []
        if batch:
            count += await self._write(table, batch)
        return count

    async def _write(self, table: Table, batch: list[tuple[Any, ...]]) -> int:
        names = [c.name for c in table.columns]
        if self.pg is not None:
            encoded = [tuple(_pg_value(v) for v in row) for row in batch]
            await self.pg.copy_records_to_table(table.name, records=encoded, columns=names)
        else:
            assert self.lite is not None
            marks = ",".join("?" for _ in names)
            self.lite.executemany(
                f"INSERT INTO {table.name} ({','.join(names)}) VALUES ({marks})",
                [tuple(_lite_value(v) for v in row) for row in batch],
            )
        return len(batch)

    async def execute(self, sql: str) -> None:
        if self.pg is not None:
            await self.pg.execute(sql)
        else:
            assert self.lite is not None
            self.lite.executescript(sql)


def _pg_value(value: Any) -> Any:
    if isinstance(value, dict | list):
        import orjson

        return orjson.dumps(value).decode()
    return value


def _lite_value(value: Any) -> Any:
    import orjson

    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


async def load(
    url: str,
    *,
    clients: int,
    sessions_per_plan: int,
    filler_clients: int = 0,
    filler_sessions_per_plan: int = 100,
    seed: int = 7,
) -> Dataset:
    """Fills a migrated, empty database; returns the admin key and the ids to request.

    `filler_clients` adds clients whose plans hold `filler_sessions_per_plan` sessions each and
    are never requested: they only make the tables bigger."""
    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC)
    therapist_id = uuid.uuid4()
    admin_key = new_api_key()
    total = clients + filler_clients
    client_ids = [uuid.uuid4() for _ in range(total)]
    plan_ids = [uuid.uuid4() for _ in range(total)]
    goal_ids = [uuid.uuid4() for _ in range(total)]
    plan_sizes = [sessions_per_plan] * clients + [filler_sessions_per_plan] * filler_clients
    started = time.perf_counter()
    async with Loader(url) as db:
        await db.copy(
            Therapist.__table__,  # type: ignore[arg-type]
            iter(
                [
                    {
                        "id": therapist_id,
                        "full_name": "Jo Effleurage",
                        "credentials": ["LMT"],
                        "certifications": ["prenatal", "oncology"],
                        "active": True,
                        "created_at": now,
                        "updated_at": now,
                        "version": 1,
                    }
                ]
            ),
        )
        await db.copy(
            ApiKey.__table__,  # type: ignore[arg-type]
            iter(
                [
                    {
                        "id": uuid.uuid4(),
                        "name": "bench",
                        "role": "admin",
                        "key_prefix": admin_key[:12],
                        "key_hash": api_key_digest(admin_key),
                        "created_at": now,
                        "updated_at": now,
                        "version": 1,
                    }
                ]
            ),
        )

        def client_rows() -> Iterator[dict[str, Any]]:
            for i, cid in enumerate(client_ids):
                at = now - dt.timedelta(seconds=total - i)
                yield {
                    "id": cid,
                    "given_name": rng.choice(GIVEN),
                    "family_name": rng.choice(FAMILY),
                    "date_of_birth": dt.date(1950 + i % 50, 1 + i % 12, 1 + i % 28),
                    "email": f"client{i}@example.org",
                    "phone": f"+44 20 7946 {i % 10000:04d}",
                    "address": f"{i} Harley Street, London",
                    "emergency_contact": {
                        "name": "Sam",
                        "phone": "+44 20 7946 0000",
                        "relationship": "partner",
                    },
                    "notes": "Prefers morning appointments.",
                    "created_at": at,
                    "updated_at": at,
                    "version": 1,
                }

        await db.copy(Client.__table__, client_rows())  # type: ignore[arg-type]
        await db.copy(
            Consent.__table__,  # type: ignore[arg-type]
            (
                {
                    "id": uuid.uuid4(),
                    "client_id": cid,
                    "kind": "treatment",
                    "granted_on": dt.date(2025, 1, 1),
                    "created_at": now,
                    "updated_at": now,
                    "version": 1,
                }
                for cid in client_ids
            ),
        )
        await db.copy(
            CarePlan.__table__,  # type: ignore[arg-type]
            (
                {
                    "id": pid,
                    "client_id": cid,
                    "primary_therapist_id": therapist_id,
                    "title": "Low back rehabilitation alongside physiotherapy",
                    "kind": "rehabilitation",
                    "status": "active",
                    "start_date": START.date(),
                    "planned_sessions": size,
                    "sessions_per_week": 1.0,
                    "coordinated_care": [],
                    "created_at": now,
                    "updated_at": now,
                    "version": 1,
                }
                for pid, cid, size in zip(plan_ids, client_ids, plan_sizes, strict=True)
            ),
        )
        await db.copy(
            Goal.__table__,  # type: ignore[arg-type]
            (
                {
                    "id": gid,
                    "care_plan_id": pid,
                    "description": "Pain at rest below 3/10",
                    "measure": "nprs",
                    "unit": "points",
                    "baseline_value": 7.0,
                    "target_value": 2.0,
                    "status": "active",
                    "created_at": now,
                    "updated_at": now,
                    "version": 1,
                }
                for gid, pid in zip(goal_ids, plan_ids, strict=True)
            ),
        )
        session_ids: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, int]] = []

        def session_rows() -> Iterator[dict[str, Any]]:
            plans = zip(plan_ids, client_ids, goal_ids, plan_sizes, strict=True)
            for n, (pid, cid, gid, size) in enumerate(plans):
                for k in range(size):
                    sid = uuid.uuid4()
                    session_ids.append((sid, cid, gid, k))
                    begin = START + dt.timedelta(days=7 * k, minutes=(n % 400) * 60)
                    yield {
                        "id": sid,
                        "client_id": cid,
                        "care_plan_id": pid,
                        "therapist_id": therapist_id,
                        "scheduled_start": begin,
                        "scheduled_end": begin + dt.timedelta(minutes=60),
                        "duration_minutes": 60,
                        "status": "completed",
                        "session_type": "therapeutic",
                        "body_regions": ["lower_back", "hips"],
                        "regions_avoided": [],
                        "techniques": rng.sample(TECHNIQUES, 2),
                        "pressure": "moderate",
                        "soap": {
                            "subjective": "Stiff after gardening.",
                            "objective": "Guarding L4-L5.",
                            "assessment": "Improving.",
                            "plan": "Continue weekly.",
                        },
                        "health_update": "No change.",
                        "home_care": "Cat-cow stretch twice a day.",
                        "warnings": [],
                        "note_status": "draft",
                        "created_at": begin,
                        "updated_at": begin,
                        "version": 1,
                    }

        await db.copy(SessionRecord.__table__, session_rows())  # type: ignore[arg-type]

        def measurement_rows() -> Iterator[dict[str, Any]]:
            for sid, cid, gid, k in session_ids:
                pre = max(0.0, 7.0 - 0.2 * k + rng.choice([0.0, 1.0]))
                for position, (timing, value) in enumerate(
                    (("pre", pre), ("post", max(0.0, pre - 2.0)))
                ):
                    yield {
                        "id": uuid.uuid4(),
                        "session_id": sid,
                        "client_id": cid,
                        "goal_id": gid,
                        "position": position,
                        "measure": "nprs",
                        "value": value,
                        "unit": "points",
                        "timing": timing,
                        "created_at": now,
                    }

        await db.copy(Measurement.__table__, measurement_rows())  # type: ignore[arg-type]
        signed_at = "'2025-06-01 12:00:00+00'" if not db.sqlite else "'2025-06-01 12:00:00'"
        signer = f"'{therapist_id}'" if not db.sqlite else f"'{therapist_id.hex}'"
        await db.execute(
            "UPDATE session_records SET note_status = 'signed', "
            f"signed_at = {signed_at}, signed_by = {signer}, "
            "content_sha256 = 'bench', version = 2"
        )
        if not db.sqlite:
            await db.execute("ANALYZE")
    print(
        f"loaded {total} clients, {total} care plans, {len(session_ids)} sessions, "
        f"{2 * len(session_ids)} measurements in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return Dataset(admin_key, client_ids[:clients], plan_ids[:clients], therapist_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="a migrated, empty database")
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--sessions-per-plan", type=int, default=20)
    parser.add_argument("--filler-clients", type=int, default=0)
    args = parser.parse_args()
    data = asyncio.run(
        load(
            args.database_url,
            clients=args.clients,
            sessions_per_plan=args.sessions_per_plan,
            filler_clients=args.filler_clients,
        )
    )
    print(data.admin_key)


if __name__ == "__main__":
    main()
