"""What the app does once, at start-up, so that requests need not."""

from __future__ import annotations

import gc

from sqlalchemy.ext.asyncio import AsyncEngine

from app.main import create_app
from tests.conftest import test_settings as settings_for


async def test_start_up_objects_are_left_out_of_full_collections(
    database_url: str, engine: AsyncEngine
) -> None:
    """The heap built at start-up is frozen while the app serves (a full collection then walks
    only what requests made), and thawed when it stops."""
    settings = settings_for(database_url).model_copy(update={"delivery_worker": False})
    app = create_app(settings)
    assert gc.get_freeze_count() == 0
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() > 10_000
    assert gc.get_freeze_count() == 0
