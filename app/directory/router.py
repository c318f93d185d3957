"""`/v1/therapists` and `/v1/referring-professionals`: the clinic's directories."""

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel

from app.audit import service as audit
from app.audit.service import AuditAction
from app.auth.dependencies import actor, allow
from app.core import crud
from app.core.concurrency import ExpectedVersion, MergePatch
from app.core.errors import problems
from app.core.fields import QueryFlag, SearchText
from app.core.pagination import IncludeArchived, Page, PageOf, PageParams, page_of
from app.core.responses import ReadModel, no_content, render
from app.core.routing import DbSession, TransactionalRoute
from app.core.security import Caller, Role
from app.directory import service
from app.directory.models import ReferringProfessional, Therapist
from app.directory.schemas import (
    Discipline,
    ReferringProfessionalCreate,
    ReferringProfessionalRead,
    ReferringProfessionalUpdate,
    TherapistCreate,
    TherapistRead,
    TherapistUpdate,
)
from app.directory.service import DirectoryFilters

router = APIRouter(prefix="/v1", route_class=TransactionalRoute)

Reader = Annotated[Caller, Depends(allow(Role.admin, Role.therapist, Role.front_desk))]
Editor = Annotated[Caller, Depends(allow(Role.admin, Role.front_desk))]

Active = Annotated[
    QueryFlag | None, Query(description="Only active (`true`) or inactive (`false`) rows")
]
NameSearch = Annotated[SearchText | None, Query(description="Name search")]

Lister = Callable[[Any, DirectoryFilters, PageParams], Awaitable[list[Any]]]


def _directory_routes(
    path: str,
    tag: str,
    model: type[Any],
    create_schema: type[BaseModel],
    update_schema: type[MergePatch],
    read_schema: type[ReadModel],
    lister: Lister,
    with_discipline: bool,
) -> None:
    """The five routes of one directory. Both directories share their shape and their rules."""
    resource_type = model.__tablename__.rstrip("s")
    what = resource_type.replace("_", " ")

    async def create_entry(data: create_schema, db: DbSession, caller: Editor) -> Response:  # type: ignore[valid-type]
        row = await crud.create(db, model, data)
        audit.record(db, actor(caller), AuditAction.create, resource_type, row.id)
        return render(
            read_schema.model_validate(row),
            caller,
            status_code=201,
            version=row.version,
            headers={"Location": f"/v1/{path}/{row.id}"},
        )

    async def list_entries(
        db: DbSession,
        caller: Reader,
        page: Page,
        active: Active = None,
        q: NameSearch = None,
        include_archived: IncludeArchived = False,
        discipline: Annotated[Discipline | None, Query(include_in_schema=with_discipline)] = None,
    ) -> Response:
        filters = DirectoryFilters(active, discipline, q, include_archived)
        rows, cursor = page_of(await lister(db, filters, page), page)
        body = PageOf[read_schema](  # type: ignore[valid-type]
            items=[read_schema.model_validate(r) for r in rows], next_cursor=cursor
        )
        return render(body, caller)

    async def get_entry(
        entry_id: uuid.UUID,
        db: DbSession,
        caller: Reader,
        include_archived: IncludeArchived = False,
    ) -> Response:
        row = await crud.get_or_404(
            db, model, entry_id, include_archived=include_archived, what=what
        )
        return render(read_schema.model_validate(row), caller, version=row.version)

    async def update_entry(
        entry_id: uuid.UUID,
        patch: update_schema,  # type: ignore[valid-type]
        db: DbSession,
        caller: Editor,
        expected: ExpectedVersion,
    ) -> Response:
        row = await crud.get_or_404(db, model, entry_id, what=what)
        row = await crud.patch(db, row, patch, expected)
        audit.record(db, actor(caller), AuditAction.update, resource_type, row.id)
        return render(read_schema.model_validate(row), caller, version=row.version)

    async def archive_entry(entry_id: uuid.UUID, db: DbSession, caller: Editor) -> Response:
        row = await crud.get_or_404(db, model, entry_id, what=what)
        await crud.archive(db, row)
        audit.record(db, actor(caller), AuditAction.delete, resource_type, row.id)
        return no_content()

    item = f"/{path}/{{entry_id}}"
    router.add_api_route(
        f"/{path}",
        create_entry,
        methods=["POST"],
        status_code=201,
        response_model=read_schema,
        tags=[tag],
        responses=problems(),
        name=f"create_{resource_type}",
    )
    router.add_api_route(
        f"/{path}",
        list_entries,
        methods=["GET"],
        tags=[tag],
        response_model=PageOf[read_schema],  # type: ignore[valid-type]
        responses=problems(),
        name=f"list_{resource_type}s",
    )
    router.add_api_route(
        item,
        get_entry,
        methods=["GET"],
        response_model=read_schema,
        tags=[tag],
        responses=problems(),
        name=f"get_{resource_type}",
    )
    router.add_api_route(
        item,
        update_entry,
        methods=["PATCH"],
        response_model=read_schema,
        tags=[tag],
        responses=problems(412, 428),
        name=f"update_{resource_type}",
    )
    router.add_api_route(
        item,
        archive_entry,
        methods=["DELETE"],
        status_code=204,
        tags=[tag],
        responses=problems(),
        name=f"archive_{resource_type}",
        summary=f"Archive a {what} (soft delete)",
    )


_directory_routes(
    "therapists",
    "therapists",
    Therapist,
    TherapistCreate,
    TherapistUpdate,
    TherapistRead,
    service.list_therapists,
    with_discipline=False,
)
_directory_routes(
    "referring-professionals",
    "referring professionals",
    ReferringProfessional,
    ReferringProfessionalCreate,
    ReferringProfessionalUpdate,
    ReferringProfessionalRead,
    service.list_referring_professionals,
    with_discipline=True,
)
