"""Therapists and referring professionals."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import crud
from app.core.pagination import PageParams
from app.directory.models import ReferringProfessional, Therapist
from app.directory.schemas import Discipline


@dataclass(frozen=True, slots=True)
class DirectoryFilters:
    active: bool | None = None
    discipline: Discipline | None = None
    q: str | None = None
    include_archived: bool = False


async def list_therapists(
    db: AsyncSession, filters: DirectoryFilters, page: PageParams
) -> list[Therapist]:
    conditions: list[ColumnElement[bool]] = []
    if filters.active is not None:
        conditions.append(Therapist.active.is_(filters.active))
    if filters.q:
        conditions.append(crud.name_matches(filters.q, Therapist.full_name))
    return await crud.list_page(
        db, Therapist, page, *conditions, include_archived=filters.include_archived
    )


async def list_referring_professionals(
    db: AsyncSession, filters: DirectoryFilters, page: PageParams
) -> list[ReferringProfessional]:
    model = ReferringProfessional
    conditions: list[ColumnElement[bool]] = []
    if filters.active is not None:
        conditions.append(model.active.is_(filters.active))
    if filters.discipline is not None:
        conditions.append(model.discipline == filters.discipline.value)
    if filters.q:
        conditions.append(crud.name_matches(filters.q, model.full_name, model.organization))
    return await crud.list_page(
        db, model, page, *conditions, include_archived=filters.include_archived
    )
