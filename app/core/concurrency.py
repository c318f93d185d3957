"""Optimistic concurrency (`ETag` / `If-Match`) and JSON merge-patch updates."""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar

from fastapi import Depends, Header
from pydantic import BaseModel, ConfigDict, model_validator

from app.core.errors import PreconditionFailed, PreconditionRequired

_ETAG_RE = re.compile(r'^\s*(?:W/)?"?(\d{1,18})"?\s*$')


def etag(version: int) -> str:
    return f'"{version}"'


def _expected_version(
    if_match: Annotated[
        str | None,
        Header(
            alias="If-Match",
            description='The `ETag` of the version being changed, e.g. `"3"`',
        ),
    ] = None,
) -> int:
    if if_match is None:
        raise PreconditionRequired('This change needs an If-Match header with the ETag, e.g. "3"')
    match = _ETAG_RE.match(if_match)
    if match is None:
        raise PreconditionFailed("If-Match does not name a version of this resource")
    return int(match.group(1))


ExpectedVersion = Annotated[int, Depends(_expected_version)]


def check_version(current: int, expected: int) -> None:
    """The first half of the check; the ORM's `UPDATE … WHERE version = :v` is the atomic half."""
    if current != expected:
        raise PreconditionFailed(
            f"The resource is at version {current}, not {expected}; fetch it again"
        )


def _refuse_null_where_not_null(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """The schema of a `MergePatch` offers `null` only for the fields that `null` clears."""
    not_null: frozenset[str] = getattr(model, "not_null", frozenset())
    for name, field in schema.get("properties", {}).items():
        if name not in not_null:
            continue
        for key in ("anyOf", "oneOf"):
            if key in field:
                options = [o for o in field[key] if o.get("type") != "null"]
                if len(options) == 1:
                    del field[key]
                    field.update(options[0])
                else:
                    field[key] = options
        if isinstance(field.get("type"), list):
            field["type"] = [t for t in field["type"] if t != "null"]
        if field.get("default", ...) is None:
            del field["default"]


class MergePatch(BaseModel):
    """A JSON merge-patch body (RFC 7396): only the fields sent change; `null` clears a field.

    Unknown and server-owned fields are rejected. Fields listed in `not_null` are required
    fields of the resource: they may be changed but not cleared. Objects inside the resource
    (e.g. `emergency_contact`) are replaced whole.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra=_refuse_null_where_not_null)
    not_null: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _required_fields_stay_set(self) -> MergePatch:
        cleared = [
            name
            for name in self.model_fields_set
            if name in self.not_null and getattr(self, name) is None
        ]
        if cleared:
            raise ValueError(f"these fields may not be null: {', '.join(sorted(cleared))}")
        return self

    def changes(self) -> dict[str, Any]:
        return storable(self, exclude_unset=True)


def storable(model: BaseModel, **dump_options: Any) -> dict[str, Any]:
    """The model's fields as column values: scalars as Python objects (UUID, date, …), objects
    and lists in their JSON form, ready for JSON columns."""
    plain = model.model_dump(**dump_options)
    as_json = model.model_dump(mode="json", **dump_options)
    return {
        name: as_json[name] if isinstance(value, dict | list) else value
        for name, value in plain.items()
    }


def apply_changes(target: Any, changes: dict[str, Any]) -> None:
    for name, value in changes.items():
        setattr(target, name, value)
