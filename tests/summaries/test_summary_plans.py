"""Every statement of a summary reaches its rows through an index (PostgreSQL).

A summary must cost the same with 200 k or with 1 M sessions in the database: each of its
statements has to find the plan's or the client's rows through an index, never by reading a
whole table, and the measurements through an index led by the client, so that the pages one
summary reads stay together instead of scattering over an index as big as the table. On a test
database the tables are tiny and PostgreSQL prefers a sequential scan anyway, so the plans are
asked for with `enable_seqscan = off`: the planner then uses an index whenever one can serve
the statement, and a `Seq Scan` left in the plan means none can. Other clients' plans, sessions
and measurements (analysed) give the planner the proportions of a real clinic: many clients,
a few dozen sessions each.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from tests.statements import captured
from tests.summaries.conftest import SummaryClinic, consent, grant

# the tables that grow with the clinic's work; the directories and keys stay small
GROWING_TABLES = frozenset(
    {
        "session_records",
        "measurements",
        "addenda",
        "goals",
        "care_plans",
        "care_plan_referrals",
        "clients",
        "consents",
        "precautions",
        "referrals",
        "audit_events",
    }
)


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of an EXPLAIN (FORMAT JSON) plan."""
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


async def statements_of(
    client: httpx.AsyncClient, connection: AsyncConnection, path: str, headers: dict[str, str]
) -> list[tuple[str, Any]]:
    """The SELECT statements one request runs, with their parameters."""
    with captured(connection) as sent:
        response = await client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return [
        (sql, parameters) for sql, parameters in sent if sql.lstrip().upper().startswith("SELECT")
    ]


# other clients, a plan each with 20 completed sessions measured before and after treatment
OTHER_CLINIC = (
    """
    INSERT INTO clients (id, given_name, family_name, created_at, updated_at, version)
    SELECT gen_random_uuid(), 'Other', 'Client ' || n, now(), now(), 1
    FROM generate_series(1, 1000) AS n
    """,
    """
    INSERT INTO care_plans (id, client_id, title, kind, status, coordinated_care, created_at,
                            updated_at, version)
    SELECT gen_random_uuid(), id, 'Other plan', 'rehabilitation', 'active', '[]', now(), now(), 1
    FROM clients WHERE given_name = 'Other'
    """,
    """
    INSERT INTO session_records (id, client_id, care_plan_id, therapist_id, scheduled_start,
        scheduled_end, duration_minutes, status, session_type, body_regions, regions_avoided,
        techniques, warnings, note_status, created_at, updated_at, version)
    SELECT gen_random_uuid(), p.client_id, p.id, $1, now() - k * interval '7 days',
        now() - k * interval '7 days' + interval '1 hour', 60, 'completed', 'therapeutic', '[]',
        '[]', '[]', '[]', 'draft', now(), now(), 1
    FROM care_plans p CROSS JOIN generate_series(1, 20) AS k WHERE p.title = 'Other plan'
    """,
    """
    INSERT INTO measurements (id, session_id, client_id, position, measure, value, timing,
                              created_at)
    SELECT gen_random_uuid(), s.id, s.client_id, t.position, 'nprs', 5, t.timing, now()
    FROM session_records s JOIN care_plans p ON p.id = s.care_plan_id AND p.title = 'Other plan'
    CROSS JOIN (VALUES (0, 'pre'), (1, 'post')) AS t (position, timing)
    """,
    "ANALYZE clients, care_plans, session_records, measurements",
)


@pytest.fixture
async def summary_plans(
    client: httpx.AsyncClient,
    summary_clinic: SummaryClinic,
    connection: AsyncConnection,
    sessionmaker: async_sessionmaker[AsyncSession],
    backend: str,
) -> dict[str, dict[str, Any]]:
    """The plan of every SELECT of the care-plan and referral summaries, read by staff and by
    the referrer, with sequential scans made the planner's last resort."""
    if backend != "postgresql":
        pytest.skip("reads PostgreSQL's query plans")
    await grant(sessionmaker, consent(summary_clinic.client_id, summary_clinic.professional_id))
    staff = summary_clinic.staff
    requests = [
        (f"/v1/care-plans/{summary_clinic.plan_id}/summary", role) for role in ("admin", "referrer")
    ] + [
        (f"/v1/referrals/{summary_clinic.referral_id}/summary", role)
        for role in ("therapist", "referrer")
    ]
    statements = [
        statement
        for path, role in requests
        for statement in await statements_of(client, connection, path, staff.headers(role))
    ]
    assert len(statements) > 20  # the capture saw the requests' work

    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    for step in OTHER_CLINIC:
        await driver.execute(step, *([staff.therapist_id] if "$1" in step else []))
    plans: dict[str, dict[str, Any]] = {}
    await connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    try:
        for statement, parameters in statements:
            explained = await driver.fetchval(
                f"EXPLAIN (FORMAT JSON) {statement}", *(parameters or ())
            )
            # SQLAlchemy's asyncpg connections decode JSON themselves
            decoded = json.loads(explained) if isinstance(explained, str) else explained
            plans[statement] = decoded[0]["Plan"]
    finally:
        await connection.exec_driver_sql("SET LOCAL enable_seqscan = on")
    return plans


async def test_no_growing_table_is_read_whole(summary_plans: dict[str, dict[str, Any]]) -> None:
    full_scans = {
        statement: tables
        for statement, plan in summary_plans.items()
        if (
            tables := [
                node["Relation Name"]
                for node in nodes(plan)
                if node["Node Type"] == "Seq Scan" and node["Relation Name"] in GROWING_TABLES
            ]
        )
    }
    assert full_scans == {}


async def test_measurements_are_found_by_client(summary_plans: dict[str, dict[str, Any]]) -> None:
    """Each read of `measurements` goes through an index condition on `client_id`, not
    through `session_id` alone with the client checked row by row afterwards."""
    accesses = [
        node
        for plan in summary_plans.values()
        for node in nodes(plan)
        if node.get("Relation Name") == "measurements"
    ]
    assert accesses  # the summaries read measurements

    def conditions(node: dict[str, Any]) -> list[str]:
        return [n["Index Cond"] for n in nodes(node) if "Index Cond" in n]

    not_by_client = [
        (node["Node Type"], node.get("Index Name"), conditions(node))
        for node in accesses
        if not any("client_id" in condition for condition in conditions(node))
    ]
    assert not_by_client == []
