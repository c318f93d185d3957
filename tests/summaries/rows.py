"""Rows as the summary's statements read them, for the computation's tests."""

from __future__ import annotations

import uuid
from typing import Any

from app.core.statements import Row


def plan_row(plan_id: uuid.UUID, **values: Any) -> Row:
    """A care plan as `service.PLAN` reads it: an active plan of a new client by default."""
    return {
        "id": plan_id,
        "client_id": uuid.uuid4(),
        "primary_therapist_id": None,
        "title": "Plan",
        "kind": "wellness",
        "status": "active",
        "start_date": None,
        "end_date": None,
        "planned_sessions": None,
        "archived_at": None,
        **values,
    }


def client_row(client_id: uuid.UUID) -> Row:
    """A client as `service.CLIENT` reads it."""
    return {"id": client_id, "given_name": "A", "family_name": "B", "date_of_birth": None}
