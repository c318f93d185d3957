"""Fixtures: one migrated database per run, one rolled-back transaction per test, an app and an
HTTP client over ASGI, and callers of every role."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from app.auth import service as auth_service
from app.auth.schemas import ApiKeyCreate
from app.core.config import Settings
from app.core.db import create_engine
from app.core.security import Role
from app.directory.models import ReferringProfessional, Therapist
from app.main import create_app
from tests.databases import backend_name, base_test_url, migrate, recreate_database


def pytest_report_header() -> str:
    return f"careplan test database: {backend_name(base_test_url_cached())}"


_URL: str | None = None


def base_test_url_cached() -> str:
    global _URL
    if _URL is None:
        _URL = base_test_url()
    return _URL


def test_settings(url: str) -> Settings:
    return Settings(
        DATABASE_URL=url,
        CAREPLAN_ENV="test",
        CAREPLAN_SECRET_KEY="test-secret-key-for-the-careplan-suite-0123456789",
        CAREPLAN_ARGON2_TIME_COST=1,
        CAREPLAN_ARGON2_MEMORY_KIB=1024,
        CAREPLAN_ACCESS_LOG=False,
        CAREPLAN_DELIVERY_WORKER=False,
    )


@pytest.fixture(scope="session")
def database_url() -> str:
    return base_test_url_cached()


@pytest.fixture(scope="session")
def backend(database_url: str) -> str:
    return backend_name(database_url)


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    await recreate_database(database_url)
    await migrate(database_url)
    engine = create_engine(database_url, pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection inside an outer transaction that is rolled back after the test."""
    async with engine.connect() as conn:
        outer = await conn.begin()
        try:
            yield conn
        finally:
            await outer.rollback()


@pytest.fixture
def sessionmaker(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    # every commit inside the test becomes a savepoint of the outer transaction
    return async_sessionmaker(
        bind=connection,
        expire_on_commit=False,
        autoflush=False,
        join_transaction_mode="create_savepoint",
    )


@pytest.fixture
async def db(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        yield session


@pytest.fixture
def settings(database_url: str) -> Settings:
    return test_settings(database_url)


@pytest.fixture
def app(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> FastAPI:
    return create_app(settings, sessionmaker=sessionmaker)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://careplan.test") as http:
        yield http


@dataclass(frozen=True)
class Staff:
    """A therapist, a referring professional, and an API key for each role."""

    therapist_id: uuid.UUID
    referring_professional_id: uuid.UUID
    keys: dict[Role, str]
    key_ids: dict[Role, uuid.UUID]

    def headers(self, role: Role | str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[Role(role)]}"}


@pytest.fixture
async def staff(sessionmaker: async_sessionmaker[AsyncSession]) -> Staff:
    async with sessionmaker() as session:
        therapist = Therapist(full_name="Ada Kneading", certifications=[], credentials=["LMT"])
        referrer = ReferringProfessional(full_name="Dr. Pat Physio", discipline="physical_therapy")
        session.add_all([therapist, referrer])
        await session.flush()
        keys: dict[Role, str] = {}
        key_ids: dict[Role, uuid.UUID] = {}
        for role in Role:
            record, key = await auth_service.create_api_key(
                session,
                ApiKeyCreate(
                    name=f"{role.value} key",
                    role=role,
                    therapist_id=therapist.id if role is Role.therapist else None,
                    referring_professional_id=referrer.id if role is Role.referrer else None,
                ),
                created_by=None,
            )
            keys[role] = key
            key_ids[role] = record.id
        await session.commit()
        return Staff(therapist.id, referrer.id, keys, key_ids)


@pytest.fixture
def as_role(staff: Staff) -> Callable[[Role | str], dict[str, str]]:
    return staff.headers
