"""Serializing responses once, with the fields a caller may not see left out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    model_serializer,
)
from starlette.responses import Response

from app.core.concurrency import etag
from app.core.errors import Forbidden
from app.core.security import Caller


class ReadModel(BaseModel):
    """A response schema. A schema with fields the front desk may not see derives from
    `ClinicalReadModel` and names them in `clinical_fields`; the others serialize without a
    Python call per object."""

    model_config = ConfigDict(from_attributes=True)
    clinical_fields: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if cls.clinical_fields and not issubclass(cls, ClinicalReadModel):
            raise TypeError(
                f"{cls.__name__} names clinical_fields: it derives from ClinicalReadModel, "
                "which leaves them out of responses to the front desk"
            )


class ClinicalReadModel(ReadModel):
    """A response schema whose `clinical_fields` are left out of every response to the front
    desk."""

    @model_serializer(mode="wrap")
    def _strip_clinical(  # type: ignore[no-untyped-def]  # an annotation would hide the schema
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ):
        data = handler(self)
        context = info.context
        if self.clinical_fields and isinstance(context, Mapping) and context.get("strip_clinical"):
            for name in self.clinical_fields:
                data.pop(name, None)
        return data


def refuse_clinical_writes(
    caller: Caller, fields: Iterable[str], read_model: type[ReadModel]
) -> None:
    """403 when the front desk sends a field it is never shown: what a caller may not see
    (`read_model.clinical_fields`), it may not write either."""
    if caller.sees_clinical_content:
        return
    clinical = sorted(set(fields) & read_model.clinical_fields)
    if clinical:
        raise Forbidden(f"The front desk may not write clinical fields: {', '.join(clinical)}")


def render(
    model: BaseModel,
    caller: Caller | None,
    *,
    status_code: int = 200,
    version: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    strip = caller is not None and not caller.sees_clinical_content
    body = model.model_dump_json(context={"strip_clinical": strip})
    out = dict(headers or {})
    if version is not None:
        out["ETag"] = etag(version)
    return Response(body, status_code=status_code, media_type="application/json", headers=out)


def no_content() -> Response:
    return Response(status_code=204)
