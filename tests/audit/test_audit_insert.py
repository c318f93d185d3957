"""A batch of audit rows is one statement: on PostgreSQL an INSERT from `unnest` of one array
per column, elsewhere an executemany; every column of every row arrives as given."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.audit.models import AuditEvent
from app.audit.writer import AUDIT_EVENTS, _unnest_insert, as_columns, insert_events
from tests.statements import captured

POSTGRESQL_STATEMENT = (
    "INSERT INTO audit_events (id, at, actor_type, actor_id, role, action, resource_type, "
    "resource_id, client_id, request_id, ip, method, path, status) SELECT * FROM unnest("
    "CAST(:id AS UUID[]), CAST(:at AS TIMESTAMP WITH TIME ZONE[]), "
    "CAST(:actor_type AS VARCHAR(16)[]), CAST(:actor_id AS UUID[]), CAST(:role AS VARCHAR(16)[]), "
    "CAST(:action AS VARCHAR(16)[]), CAST(:resource_type AS VARCHAR(64)[]), "
    "CAST(:resource_id AS UUID[]), CAST(:client_id AS UUID[]), "
    "CAST(:request_id AS VARCHAR(128)[]), CAST(:ip AS VARCHAR(64)[]), "
    "CAST(:method AS VARCHAR(8)[]), CAST(:path AS VARCHAR(500)[]), CAST(:status AS INTEGER[]))"
)


# the test's outer transaction turns the session's transactions into savepoints
HARNESS = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")


def test_the_postgresql_statement_takes_one_array_per_column_in_table_order() -> None:
    assert _unnest_insert(AUDIT_EVENTS).text == POSTGRESQL_STATEMENT


def test_rows_become_one_list_per_column_in_table_order() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    at = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)
    rows = [
        {c.name: None for c in AUDIT_EVENTS.columns} | {"id": first, "at": at, "action": "read"},
        {c.name: None for c in AUDIT_EVENTS.columns} | {"id": second, "action": "create"},
    ]
    columns = as_columns(AUDIT_EVENTS, rows)
    assert list(columns) == [
        "id", "at", "actor_type", "actor_id", "role", "action", "resource_type",
        "resource_id", "client_id", "request_id", "ip", "method", "path", "status",
    ]  # fmt: skip
    assert columns["id"] == [first, second]
    assert columns["at"] == [at, None]
    assert columns["action"] == ["read", "create"]
    assert columns["status"] == [None, None]


def _rows() -> list[dict[str, Any]]:
    at = dt.datetime(2026, 12, 1, 9, 30, 15, 250_000, tzinfo=dt.UTC)
    return [
        {
            "id": uuid.uuid4(),
            "at": at + dt.timedelta(seconds=i),
            "actor_type": "api_key" if i else "user",
            "actor_id": uuid.uuid4(),
            "role": ("admin", "therapist", "front_desk")[i],
            "action": ("read", "create", "denied")[i],
            "resource_type": "client",
            "resource_id": uuid.uuid4(),
            "client_id": uuid.uuid4() if i != 1 else None,
            "request_id": f"request-{i}",
            "ip": "192.0.2.7" if i != 2 else None,
            "method": ("GET", "POST", "DELETE")[i],
            "path": f"/v1/clients/{i}",
            "status": 403 if i == 2 else None,
        }
        for i in range(3)
    ]


async def test_a_batch_is_one_statement_and_every_value_arrives(
    db: AsyncSession, connection: AsyncConnection, backend: str
) -> None:
    rows = _rows()
    with captured(connection) as sent:
        await insert_events(db, rows)
    work = [sql for sql, _ in sent if not sql.startswith(HARNESS)]
    assert [sql.split()[:3] for sql in work] == [["INSERT", "INTO", "audit_events"]]
    # PostgreSQL gets the arrays (one parameter per column), SQLite the rows (executemany)
    assert ("SELECT * FROM unnest(" in work[0]) is (backend == "postgresql")
    stored = (
        await db.scalars(select(AuditEvent).where(AuditEvent.id.in_([r["id"] for r in rows])))
    ).all()
    columns = [c.name for c in AuditEvent.__table__.columns]
    assert sorted(({c: getattr(e, c) for c in columns} for e in stored), key=str) == sorted(
        rows, key=str
    )


async def test_no_rows_send_nothing(db: AsyncSession, connection: AsyncConnection) -> None:
    with captured(connection) as sent:
        await insert_events(db, [])
    assert [sql for sql, _ in sent if not sql.startswith(HARNESS)] == []
