"""The app delivers webhooks itself (a task of its lifespan, as under `careplan serve`), unless
switched off, as the test app fixture does."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from app.auth import service as auth_service
from app.auth.schemas import ApiKeyCreate
from app.core.security import Role
from app.main import create_app
from tests import factories
from tests.conftest import test_settings as settings_for
from tests.databases import migrate, recreate_database, variant_url
from tests.events.receiver import Receiver


@pytest.mark.parametrize("in_process", [True, False])
async def test_the_app_delivers_in_process_unless_switched_off(
    database_url: str, in_process: bool
) -> None:
    url = variant_url(database_url, "lifespan")
    await recreate_database(url)
    await migrate(url)
    settings = settings_for(url).model_copy(
        update={"delivery_worker": in_process, "webhook_poll_seconds": 0.05}
    )
    app = create_app(settings)
    with Receiver() as receiver:
        async with app.router.lifespan_context(app):
            async with app.state.sessionmaker() as db:
                _, key = await auth_service.create_api_key(
                    db, ApiKeyCreate(name="admin", role=Role.admin), None
                )
                await db.commit()
            admin = {"Authorization": f"Bearer {key}"}
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                hook = {"url": receiver.url, "event_types": ["client.created"]}
                assert (await http.post("/v1/webhooks", json=hook, headers=admin)).is_success
                created = await http.post("/v1/clients", json=factories.client(), headers=admin)
                assert created.status_code == 201
            for _ in range(100):
                if receiver.received:
                    break
                await asyncio.sleep(0.05)
            else:
                await asyncio.sleep(0.5)
    if in_process:
        assert len(receiver.received) == 1
        assert receiver.received[0].headers["webhook-id"]
    else:
        assert receiver.received == []
