from __future__ import annotations

from fastapi import APIRouter

from app.core.routing import TransactionalRoute

router = APIRouter(prefix="/fhir/R4", route_class=TransactionalRoute)
