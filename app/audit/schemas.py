from __future__ import annotations

import datetime as dt
import uuid

from app.core.responses import ReadModel


class AuditEventRead(ReadModel):
    id: uuid.UUID
    at: dt.datetime
    actor_type: str | None
    actor_id: uuid.UUID | None
    role: str | None
    action: str
    resource_type: str | None
    resource_id: uuid.UUID | None
    client_id: uuid.UUID | None
    request_id: str | None
    ip: str | None
    method: str | None
    path: str | None
    status: int | None
