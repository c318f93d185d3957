"""Migration 0003_auth on a database that holds referrals linked to care plans (SQLite must
rebuild the referenced table without losing a link), and its downgrade, which refuses while a
referral has no client."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import Executable, column, func, insert, select, table, update

from app.core.db import create_engine, utcnow
from app.models import (
    CarePlan,
    Client,
    Referral,
    ReferringProfessional,
    Therapist,
    care_plan_referrals,
)
from tests.databases import downgrade, migrate, recreate_database, variant_url


async def run(url: str, statement: Executable) -> Any:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.begin() as connection:
            result = await connection.execute(statement)
            return result.scalar() if result.returns_rows else None
    finally:
        await engine.dispose()


async def test_linked_referrals_survive_the_upgrade_and_the_downgrade(database_url: str) -> None:
    url = variant_url(database_url, "linked")
    await recreate_database(url)
    await migrate(url, "0002")
    therapist = stamped(full_name="T", credentials=[], certifications=[], active=True)
    rp = stamped(full_name="Dr. R", discipline="other", active=True)
    client = stamped(given_name="A", family_name="B")
    # the 0002 referrals table, without the columns 0003_auth adds
    names = ["id", "client_id", "referring_professional_id", "received_on", "diagnosis_codes"]
    names += ["status", "created_at", "updated_at", "version"]
    referrals_0002 = table(
        "referrals", *(column(name, Referral.__table__.c[name].type) for name in names)
    )
    referral = stamped(
        client_id=client["id"],
        referring_professional_id=rp["id"],
        received_on=utcnow().date(),
        diagnosis_codes=[],
        status="accepted",
    )
    plan = stamped(
        client_id=client["id"],
        primary_therapist_id=therapist["id"],
        title="P",
        kind="therapeutic",
        status="active",
        coordinated_care=[],
    )
    await run(url, insert(Therapist).values(**therapist))
    await run(url, insert(ReferringProfessional).values(**rp))
    await run(url, insert(Client).values(**client))
    await run(url, insert(referrals_0002).values(**referral))
    await run(url, insert(CarePlan).values(**plan))
    link = {"care_plan_id": plan["id"], "referral_id": referral["id"]}
    await run(url, insert(care_plan_referrals).values(**link))

    await migrate(url)
    links = select(func.count()).select_from(care_plan_referrals)
    assert await run(url, links) == 1
    assert await run(url, select(Referral.client_id)) == client["id"]
    await downgrade(url, "0002")
    assert await run(url, links) == 1
    await migrate(url)
    assert await run(url, links) == 1


def stamped(**values: Any) -> dict[str, Any]:
    now = utcnow()
    return {"id": uuid.uuid4(), "created_at": now, "updated_at": now, "version": 1, **values}


async def test_downgrade_refuses_while_a_referral_has_no_client(database_url: str) -> None:
    url = variant_url(database_url, "unlinked")
    await recreate_database(url)
    await migrate(url)
    rp = stamped(full_name="Dr. R", discipline="other", active=True)
    await run(url, insert(ReferringProfessional).values(**rp))
    referral = stamped(
        client_id=None,
        referring_professional_id=rp["id"],
        received_on=utcnow().date(),
        diagnosis_codes=[],
        status="pending",
    )
    await run(url, insert(Referral).values(**referral))
    with pytest.raises(RuntimeError, match="1 referral"):
        await downgrade(url, "0002")

    client = stamped(given_name="A", family_name="B")
    await run(url, insert(Client).values(**client))
    await run(url, update(Referral).values(client_id=client["id"]))
    await downgrade(url, "0002")
    await migrate(url)
