"""Checking a FHIR JSON document against R4 with the `fhir.resources` models (R4B package, which
models the same resources), and more strictly than the models alone do: every code in a
required binding from its value set, every reference to a type R4 allows in that place, and no
nulls or empty values anywhere (R4's ele-1)."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir_core.fhirabstractmodel import FHIRAbstractModel


def no_empty_values(value: Any, path: str = "$") -> None:
    if isinstance(value, dict):
        assert value, f"empty object at {path}"
        for key, item in value.items():
            no_empty_values(item, f"{path}.{key}")
    elif isinstance(value, list):
        assert value, f"empty list at {path}"
        for index, item in enumerate(value):
            no_empty_values(item, f"{path}[{index}]")
    else:
        assert value is not None, f"null at {path}"
        assert value != "", f"empty string at {path}"


def _check_model(model: FHIRAbstractModel, path: str) -> None:
    for name, info in type(model).model_fields.items():
        value = getattr(model, name, None)
        if value is None:
            continue
        extra: dict[str, Any] = (
            info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        )
        items = value if isinstance(value, list) else [value]
        allowed_codes = extra.get("enum_values")
        if allowed_codes:
            for item in items:
                assert item in allowed_codes, f"{path}.{name}: {item!r} not in {allowed_codes}"
        allowed_types = extra.get("enum_reference_types")
        if allowed_types and "Resource" not in allowed_types:
            for item in items:
                target = getattr(item, "reference", None)
                if target:
                    target_type = target.split("/")[-2]
                    assert target_type in allowed_types, (
                        f"{path}.{name}: a reference to {target_type} where R4 allows "
                        f"{allowed_types}"
                    )
        for index, item in enumerate(items):
            if isinstance(item, FHIRAbstractModel):
                _check_model(item, f"{path}.{name}[{index}]")


def validate(document: dict[str, Any]) -> Any:
    """The parsed model of `document`; fails the test on anything R4 does not allow."""
    no_empty_values(document)
    model_class = get_fhir_model_class(document["resourceType"])
    model = model_class.model_validate(document)
    _check_model(model, document["resourceType"])
    return model
