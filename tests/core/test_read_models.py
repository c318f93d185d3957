"""Response schemas: the front desk never sees clinical fields, and a schema without any pays
no Python call per object to serialize."""

from __future__ import annotations

from typing import ClassVar

import pytest

from app.core.responses import ClinicalReadModel, ReadModel


class _Note(ClinicalReadModel):
    clinical_fields: ClassVar[frozenset[str]] = frozenset({"text"})

    title: str
    text: str


class _Card(ReadModel):
    name: str
    notes: list[_Note]


def test_clinical_fields_are_left_out_for_the_front_desk_at_any_depth() -> None:
    card = _Card(name="Ann", notes=[_Note(title="t", text="secret")])
    assert card.model_dump_json(context={"strip_clinical": True}) == (
        '{"name":"Ann","notes":[{"title":"t"}]}'
    )
    assert card.model_dump_json(context={"strip_clinical": False}) == (
        '{"name":"Ann","notes":[{"title":"t","text":"secret"}]}'
    )


def test_a_schema_naming_clinical_fields_must_strip_them() -> None:
    with pytest.raises(TypeError, match="ClinicalReadModel"):

        class _Leaky(ReadModel):
            clinical_fields: ClassVar[frozenset[str]] = frozenset({"text"})

            text: str


def test_a_schema_without_clinical_fields_serializes_without_a_python_serializer() -> None:
    assert _Card.__pydantic_decorators__.model_serializers == {}
    assert set(_Note.__pydantic_decorators__.model_serializers) == {"_strip_clinical"}
