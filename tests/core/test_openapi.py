"""The OpenAPI document says what the server does, checked over the whole document."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.core.concurrency import MergePatch
from tests import factories
from tests.conftest import Staff

METHODS = ("get", "put", "post", "delete", "patch")
PROBLEM = "application/problem+json"
EMAIL_SAMPLES = [
    "jo@clinic.example",
    "a.b+c@d.co",
    "x@y",
    "@clinic.example",
    "jo@@clinic.example",
    " jo@clinic.example",
    "jo@clinic.example ",
    "jo smith@clinic.example",
    "jo@clinic.",
    "jo@.example",
]


@pytest.fixture
def document(app: FastAPI) -> dict[str, Any]:
    doc: dict[str, Any] = app.openapi()
    return doc


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def test_no_fastapi_validation_body_anywhere(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas
    refs = {n["$ref"] for n in walk(document) if isinstance(n, dict) and "$ref" in n}
    assert not [r for r in refs if r.endswith(("/HTTPValidationError", "/ValidationError"))]


def test_every_error_is_documented_as_a_problem_document(document: dict[str, Any]) -> None:
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) >= {"type", "title", "status", "detail"}
    count = fhir = 0
    for path, method, operation in operations(document):
        for code, response in operation["responses"].items():
            if path.startswith("/fhir/") and (code == "default" or int(code) >= 400):
                # the FHIR facade answers every error with an OperationOutcome
                fhir += 1
                assert list(response["content"]) == ["application/fhir+json"], (path, code)
                schema = response["content"]["application/fhir+json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/OperationOutcome"}, (path, code)
                continue
            if code == "default" or int(code) >= 400:
                count += 1
                assert list(response["content"]) == [PROBLEM], (method, path, code)
                schema = response["content"][PROBLEM]["schema"]
                assert schema == {"$ref": "#/components/schemas/Problem"}, (method, path, code)
                assert response["description"]
    assert count > 200
    assert fhir > 20


def test_every_patch_requires_if_match_and_lists_412_and_428(document: dict[str, Any]) -> None:
    patches = [(p, o) for p, m, o in operations(document) if m == "patch"]
    assert len(patches) >= 9
    for path, operation in patches:
        headers = [
            p for p in operation["parameters"] if p["in"] == "header" and p["name"] == "If-Match"
        ]
        assert len(headers) == 1, path
        assert headers[0]["required"] is True, path
        assert headers[0]["schema"]["type"] == "string", path
        assert {"412", "428"} <= set(operation["responses"]), path


def test_409_lists_its_problem_types(document: dict[str, Any]) -> None:
    seen = 0
    for path, method, operation in operations(document):
        response = operation["responses"].get("409")
        if response is None:
            continue
        seen += 1
        examples = response["content"][PROBLEM]["examples"]
        types = {e["value"]["type"] for e in examples.values()}
        assert types, (method, path)
        if not response["description"].startswith("Conflict. "):
            # a route that does not name its own 409 problems lists every one the app has
            assert {"/problems/conflict", "/problems/invalid-transition"} <= types, (method, path)
            assert {"/problems/contraindicated", "/problems/note-signed"} <= types
        assert all(e["value"]["status"] == 409 for e in examples.values())
        for problem_type in types:
            assert f"`{problem_type}`" in response["description"]
    assert seen > 10


def test_413_415_and_429_are_documented_where_they_happen(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        if "requestBody" in operation:
            assert {"413", "415", "422"} <= set(operation["responses"]), (method, path)
        if operation.get("security"):
            assert {"401", "403"} <= set(operation["responses"]), (method, path)
        if "{" in path:
            assert "404" in operation["responses"], (method, path)
    token = document["paths"]["/v1/auth/token"]["post"]
    assert "429" in token["responses"]


def test_every_protected_operation_takes_a_password_token_or_an_api_key(
    document: dict[str, Any],
) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == "/v1/auth/token"
    bearer = [
        name for name, s in schemes.items() if s["type"] == "http" and s["scheme"] == "bearer"
    ]
    assert len(bearer) == 1
    protected = 0
    for path, method, operation in operations(document):
        if not operation.get("security"):
            continue
        protected += 1
        names = {name for entry in operation["security"] for name in entry}
        assert names == {"OAuth2PasswordBearer", bearer[0]}, (method, path)
    assert protected > 50


async def test_an_api_key_works_on_every_protected_route_as_documented(
    client: httpx.AsyncClient, staff: Staff
) -> None:
    # what Swagger's bearer "Authorize" sends: the key as `Authorization: Bearer`
    answer = await client.get("/v1/clients", headers=staff.headers("admin"))
    assert answer.status_code == 200


def _merge_patch_models() -> Iterator[type[MergePatch]]:
    pending = list(MergePatch.__subclasses__())
    while pending:
        model = pending.pop()
        pending.extend(model.__subclasses__())
        yield model


def _offers_null(schema: dict[str, Any]) -> bool:
    if schema.get("type") == "null" or "null" in (schema.get("type") or []):
        return True
    return any(_offers_null(o) for o in schema.get("anyOf", []) + schema.get("oneOf", []))


def test_patch_schemas_offer_null_only_where_null_clears(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    checked = 0
    for model in _merge_patch_models():
        names = [n for n in schemas if n == model.__name__ or n.startswith(f"{model.__name__}-")]
        if not names or not model.not_null:
            continue
        for name in names:
            properties = schemas[name]["properties"]
            for field in model.not_null:
                checked += 1
                assert not _offers_null(properties[field]), (name, field)
            optional = [f for f in properties if f not in model.not_null]
            assert all(_offers_null(properties[f]) for f in optional), name
    assert checked >= 20


async def test_the_email_pattern_in_the_schema_is_what_the_server_takes(
    document: dict[str, Any], client: httpx.AsyncClient, staff: Staff
) -> None:
    patterns = set()
    inputs = 0
    for name, schema in document["components"]["schemas"].items():
        if not name.endswith(("Create", "Update", "Create-Input", "Update-Input")):
            continue  # what the server takes, not what it answers
        email = schema.get("properties", {}).get("email")
        if email is not None:
            inputs += 1
            for option in [email, *email.get("anyOf", [])]:
                if option.get("type") == "string":
                    patterns.add(option["pattern"])
    assert inputs >= 5
    assert len(patterns) == 1
    pattern = patterns.pop()
    for sample in EMAIL_SAMPLES:
        answer = await client.post(
            "/v1/therapists", json=factories.therapist(email=sample), headers=staff.headers("admin")
        )
        # ECMA-262 and the server agree on these samples: \s, anchors, ASCII only
        expected = 201 if re.search(pattern, sample) else 422
        assert answer.status_code == expected, (sample, answer.text)
