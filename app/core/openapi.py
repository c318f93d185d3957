"""The OpenAPI document as the server really behaves: one pass over FastAPI's document that
documents every error as `application/problem+json`, the `If-Match` every `PATCH` needs, the
statuses the shared machinery can answer on any route, and both ways to authenticate."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.core.errors import PROBLEM_MEDIA_TYPE, AppError

PROBLEM_REF = "#/components/schemas/Problem"
OAUTH2_SCHEME = "OAuth2PasswordBearer"
API_KEY_SCHEME = "ApiKey"
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

_DESCRIPTIONS = {
    401: "Missing or invalid bearer token",
    403: "The caller's role may not do this",
    404: "No such resource, or one the caller may not see",
    409: "Conflict",
    412: "`If-Match` names another version than the current one: fetch the resource again",
    413: "Request body over 1 MiB",
    415: "The body's `Content-Type` is not one this operation reads",
    422: "Validation error: `errors` lists each field and what is wrong with it",
    428: "`If-Match` missing: send the `ETag` of the version being changed",
    429: "Too many attempts: wait `Retry-After` seconds",
}


# what FastAPI and `errors.problems()` say when a route says nothing more precise
_DEFAULT_DESCRIPTIONS = {
    None,
    "",
    "Problem",
    "Validation Error",
    "Validation error",
    "Conflict",
    "Stale If-Match",
    "If-Match missing",
    "Body over 1 MiB",
    "Missing or invalid bearer token",
}


def _subclasses(cls: type[AppError]) -> Iterator[type[AppError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def conflict_types() -> dict[str, str]:
    """Every 409 problem the application defines, slug → title (features' errors included)."""
    found = {sub.slug: sub.title for sub in _subclasses(AppError) if sub.status == 409}
    return dict(sorted(found.items()))


_LISTED_TYPE = re.compile(r"`/problems/([a-z-]+)`")


def _problem_example(status: int) -> dict[str, Any]:
    """What a problem of this status looks like on the wire: the first error class the
    application defines for it (the shared ones come first), or the generic 500."""
    kind: type[AppError] = next(
        (sub for sub in _subclasses(AppError) if sub.status == status), AppError
    )
    example: dict[str, Any] = {
        "type": f"/problems/{kind.slug}",
        "title": kind.title,
        "status": kind.status,
        "detail": _DESCRIPTIONS.get(kind.status, kind.title),
    }
    if kind.status == 422:
        example["errors"] = [
            {"loc": ["body", "date_of_birth"], "msg": "date_of_birth is in the future"}
        ]
    return example


def _problem_response(status: int, description: str | None = None) -> dict[str, Any]:
    content: dict[str, Any] = {"schema": {"$ref": PROBLEM_REF}}
    if status != 409:
        content["example"] = _problem_example(status)
    if status == 409:
        # a route that names its own 409 problems (`problems(conflicts=…)`) shows those alone
        listed = set(_LISTED_TYPE.findall(description or ""))
        content["examples"] = {
            slug: {
                "summary": title,
                "value": {
                    "type": f"/problems/{slug}",
                    "title": title,
                    "status": 409,
                    "detail": title,
                },
            }
            for slug, title in conflict_types().items()
            if not listed or slug in listed
        }
    return {
        "description": description or _DESCRIPTIONS.get(status, "Problem"),
        "content": {PROBLEM_MEDIA_TYPE: content},
    }


def _conflict_description() -> str:
    slugs = ", ".join(f"`/problems/{slug}`" for slug in conflict_types())
    return (
        f"The change conflicts with the resource's state or other records; `type` is one of {slugs}"
    )


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document.get("paths", {}).items():
        for method in _METHODS:
            if method in item:
                yield path, method, item[method]


def _require_if_match(operation: dict[str, Any]) -> None:
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "header" and parameter.get("name", "").lower() == "if-match":
            parameter["required"] = True
            parameter["schema"] = {
                "type": "string",
                "description": parameter.get("description", ""),
                "examples": ['"3"'],
            }
            return
    operation.setdefault("parameters", []).append(
        {
            "name": "If-Match",
            "in": "header",
            "required": True,
            "description": 'The `ETag` of the version being changed, e.g. `"3"`',
            "schema": {"type": "string"},
        }
    )


FHIR_PATHS = "/fhir/"
FHIR_MEDIA_TYPE = "application/fhir+json"
OPERATION_OUTCOME_SCHEMA: dict[str, Any] = {
    "title": "OperationOutcome",
    "description": "A FHIR R4 OperationOutcome: how the FHIR facade answers every error.",
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {
            "type": "string",
            "enum": ["OperationOutcome"],
            "description": "Always `OperationOutcome`",
        },
        "issue": {
            "type": "array",
            "minItems": 1,
            "description": "What went wrong, one issue a problem",
            "items": {
                "type": "object",
                "required": ["severity", "code"],
                "properties": {
                    "severity": {
                        "type": "string",
                        "enum": ["fatal", "error", "warning"],
                        "description": "`fatal` for a server error, `error` for a refused request",
                    },
                    "code": {"type": "string", "description": "FHIR issue type, e.g. not-found"},
                    "diagnostics": {"type": "string", "description": "What went wrong"},
                },
            },
        },
    },
}


def _operation_outcome_response(status: int, description: str | None) -> dict[str, Any]:
    """Errors under `/fhir/R4` are OperationOutcomes in `application/fhir+json`."""
    text = description if description and description not in _DEFAULT_DESCRIPTIONS else None
    return {
        "description": text or _DESCRIPTIONS.get(status, "Error"),
        "content": {FHIR_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/OperationOutcome"}}},
    }


def _statuses_for(path: str, method: str, operation: dict[str, Any]) -> set[int]:
    """What the shared machinery can answer on this operation, whatever the route does."""
    statuses = {422} if path.startswith(("/v1/", "/fhir/")) else set()
    if path.startswith(FHIR_PATHS):
        statuses |= {400, 406}  # a search parameter it does not know; XML asked for
    if operation.get("security"):
        statuses |= {401, 403}
    if "{" in path:
        statuses.add(404)
    body = operation.get("requestBody")
    if body is not None:
        statuses |= {413, 415}  # a body that does not parse is 422, never 400
    if method in ("post", "patch", "delete") and operation.get("security"):
        statuses.add(409)  # any write may meet a concurrent one (a unique row, a lock)
    if method == "patch":
        statuses |= {412, 428}
    return statuses


def _add_links(document: dict[str, Any]) -> None:
    """OpenAPI links from each create (`POST` answering 201 with the new record's `id`) to the
    operations on that record, so clients and stateful testers can follow them: `POST /v1/x`
    and `POST /v1/…/x` lead to `/v1/x/{id}` and what lies below it."""
    operations = list(_operations(document))
    for path, method, operation in operations:
        created = operation.get("responses", {}).get("201")
        if method != "post" or created is None:
            continue
        collection = path.rstrip("/").rsplit("/", 1)[-1]
        prefix = path.split("/", 2)[1]  # "v1"
        roots = {f"{path}/{{", f"/{prefix}/{collection}/{{"}
        links: dict[str, Any] = {}
        for target, target_method, target_op in operations:
            root = next((r for r in roots if target.startswith(r)), None)
            if root is None or "operationId" not in target_op:
                continue
            name = target[len(root) :].split("}", 1)[0]
            parameters: dict[str, str] = {f"path.{name}": "$response.body#/id"}
            if target_method == "patch":
                parameters["header.If-Match"] = "$response.header.ETag"
            links[target_op["operationId"]] = {
                "operationId": target_op["operationId"],
                "parameters": parameters,
                "description": f"{target_method.upper()} `{target}`: "
                f"{target_op.get('summary', '')}",
            }
        if links:
            created["links"] = links


@dataclass(frozen=True)
class Reference:
    """What the document says in words beside what the code declares: a description for a
    schema property (`(schema, property) -> text or None`), one per operation
    (`"METHOD /path" -> text`), an example request body per schema name, and a description
    per query parameter name (path parameters without one are described from their name)."""

    field_description: Callable[[str, str], str | None] = lambda schema, name: None
    operations: Mapping[str, str] = field(default_factory=dict)
    examples: Mapping[str, Any] = field(default_factory=dict)
    parameters: Mapping[str, str] = field(default_factory=dict)


_READ_SUFFIXES = ("Read", "Created", "Export")


def _example_for(name: str, reference: Reference) -> Any:
    """The example a schema's properties show: its own, or for an `XRead`, `XCreated` or
    `XExport` schema that of `X` or `XCreate`, so responses show clinic values, not "string"."""
    if name in reference.examples:
        return reference.examples[name]
    for suffix in _READ_SUFFIXES:
        if name.endswith(suffix):
            base = name.removesuffix(suffix)
            return reference.examples.get(base) or reference.examples.get(f"{base}Create")
    return None


def _describe_fields(schemas: dict[str, Any], reference: Reference) -> None:
    """Fills in what a property means where its schema says nothing (a `$ref` property's
    description sits beside the reference, as OpenAPI 3.1 allows), and the value it shows
    where an example of the schema holds a scalar one."""
    for name, schema in schemas.items():
        example = _example_for(name, reference)
        for prop, spec in schema.get("properties", {}).items():
            if not spec.get("description"):
                text = reference.field_description(name, prop)
                if text:
                    spec["description"] = text
            value = example.get(prop) if isinstance(example, dict) else None
            scalar = isinstance(value, str | int | float)
            scalars = isinstance(value, list) and all(isinstance(v, str) for v in value)
            if (scalar or (scalars and value)) and "$ref" not in spec:
                spec["examples"] = [value]


def _document_operation(
    path: str, method: str, operation: dict[str, Any], reference: Reference
) -> None:
    text = reference.operations.get(f"{method.upper()} {path}")
    if text and not operation.get("description"):
        operation["description"] = text
    for parameter in operation.get("parameters", []):
        if parameter.get("description"):
            continue
        if parameter["name"] in reference.parameters:
            parameter["description"] = reference.parameters[parameter["name"]]
        elif parameter.get("in") == "path":
            noun = parameter["name"].removesuffix("_id").replace("_", " ")
            parameter["description"] = f"The {noun}'s id, as `id` in its record"
    for media in operation.get("requestBody", {}).get("content", {}).values():
        ref = media.get("schema", {}).get("$ref", "")
        example = reference.examples.get(ref.rsplit("/", 1)[-1])
        if example is not None and "example" not in media:
            media["example"] = example


def document_as_served(
    document: dict[str, Any], reference: Reference | None = None
) -> dict[str, Any]:
    """Rewrites FastAPI's document in place to say what the server does, and returns it."""
    reference = reference or Reference()
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    _describe_fields(schemas, reference)
    for name in _FASTAPI_VALIDATION:
        schemas.pop(name, None)
    schemes = components.setdefault("securitySchemes", {})
    schemes[API_KEY_SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key (`cpk_…`) or a user access token, as `Authorization: Bearer`.",
    }
    schemas["OperationOutcome"] = OPERATION_OUTCOME_SCHEMA
    for path, method, operation in _operations(document):
        _document_operation(path, method, operation, reference)
        security = operation.get("security")
        if security and not any(API_KEY_SCHEME in entry for entry in security):
            operation["security"] = [*security, {API_KEY_SCHEME: []}]
        if method == "patch":
            _require_if_match(operation)
        responses: dict[str, Any] = operation.setdefault("responses", {})
        for status in _statuses_for(path, method, operation):
            responses.setdefault(str(status), {})
        for code, response in list(responses.items()):
            if code == "default" or int(code) >= 400:
                status = 500 if code == "default" else int(code)
                keep = response.get("description")
                generic = keep in _DEFAULT_DESCRIPTIONS
                description = _conflict_description() if status == 409 and generic else None
                if not generic and description is None:
                    description = keep
                if path.startswith(FHIR_PATHS):
                    responses[code] = _operation_outcome_response(status, keep)
                else:
                    responses[code] = _problem_response(status, description)
        operation["responses"] = dict(sorted(responses.items()))
    _add_links(document)
    return document


def install_openapi(app: FastAPI, reference: Reference | None = None) -> None:
    """Serve `document_as_served` of FastAPI's document, built once on first request."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_as_served(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    openapi_version=app.openapi_version,
                    description=app.description,
                    routes=app.routes,
                    tags=app.openapi_tags,
                    servers=app.servers,
                ),
                reference,
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
