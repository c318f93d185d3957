"""The documented schema of a merge-patch body: `null` is offered only where it clears a field."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel

from app.core.concurrency import MergePatch, _refuse_null_where_not_null, storable


class Patch(MergePatch):
    not_null = frozenset({"name", "count", "either", "tags"})

    name: str | None = None
    count: int | None = None
    either: int | str | None = None
    tags: list[str] | None = None
    note: str | None = None  # not in not_null: null clears it


def test_not_null_fields_offer_no_null_and_no_null_default() -> None:
    properties = Patch.model_json_schema()["properties"]
    assert properties["name"] == {"title": "Name", "type": "string"}
    assert properties["count"] == {"title": "Count", "type": "integer"}
    assert properties["either"] == {
        "title": "Either",
        "anyOf": [{"type": "integer"}, {"type": "string"}],
    }
    assert properties["tags"] == {"title": "Tags", "type": "array", "items": {"type": "string"}}


def test_a_clearable_field_keeps_null_and_its_default() -> None:
    properties = Patch.model_json_schema()["properties"]
    assert properties["note"] == {
        "title": "Note",
        "anyOf": [{"type": "string"}, {"type": "null"}],
        "default": None,
    }


def test_a_type_list_loses_null_too() -> None:
    """JSON Schema's other form of a nullable type: a list of types."""
    schema = {"properties": {"name": {"type": ["string", "null"], "default": None}}}
    _refuse_null_where_not_null(schema, Patch)
    assert schema == {"properties": {"name": {"type": ["string"]}}}
    kept = {"properties": {"note": {"type": ["string", "null"], "default": None}}}
    _refuse_null_where_not_null(kept, Patch)
    assert kept == {"properties": {"note": {"type": ["string", "null"], "default": None}}}


class ClearableFirst(MergePatch):
    not_null = frozenset({"name"})

    note: str | None = None
    name: str | None = None


def test_a_required_field_after_a_clearable_one_loses_null_too() -> None:
    properties = ClearableFirst.model_json_schema()["properties"]
    assert properties["name"] == {"title": "Name", "type": "string"}
    assert properties["note"]["anyOf"] == [{"type": "string"}, {"type": "null"}]


def test_one_of_loses_null_like_any_of() -> None:
    schema = {
        "properties": {
            "name": {"oneOf": [{"type": "string"}, {"type": "null"}], "default": None},
            "either": {"oneOf": [{"type": "integer"}, {"type": "string"}, {"type": "null"}]},
        }
    }
    _refuse_null_where_not_null(schema, Patch)
    assert schema == {
        "properties": {
            "name": {"type": "string"},
            "either": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
        }
    }


def test_schemas_without_properties_or_defaults_are_left_as_they_are() -> None:
    bare: dict[str, object] = {"type": "object"}
    _refuse_null_where_not_null(bare, Patch)
    assert bare == {"type": "object"}
    no_default = {"properties": {"name": {"type": "string"}}}
    _refuse_null_where_not_null(no_default, Patch)
    assert no_default == {"properties": {"name": {"type": "string"}}}


def test_a_model_without_not_null_changes_nothing() -> None:
    schema = {"properties": {"name": {"anyOf": [{"type": "string"}, {"type": "null"}]}}}
    _refuse_null_where_not_null(schema, BaseModel)
    assert schema == {"properties": {"name": {"anyOf": [{"type": "string"}, {"type": "null"}]}}}


class Nested(MergePatch):
    when: dt.date | None = None
    who: uuid.UUID | None = None
    ids: list[uuid.UUID] | None = None
    contact: dict[str, dt.date] | None = None


def test_storable_keeps_scalars_as_python_values_and_json_forms_for_lists_and_objects() -> None:
    who = uuid.UUID("00000000-0000-4000-8000-000000000001")
    patch = Nested(
        when=dt.date(2026, 3, 2), who=who, ids=[who], contact={"since": dt.date(2026, 1, 5)}
    )
    assert storable(patch) == {
        "when": dt.date(2026, 3, 2),
        "who": who,
        "ids": ["00000000-0000-4000-8000-000000000001"],
        "contact": {"since": "2026-01-05"},
    }
    assert Nested(ids=[who]).changes() == {"ids": ["00000000-0000-4000-8000-000000000001"]}
