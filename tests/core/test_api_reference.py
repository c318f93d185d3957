"""The OpenAPI document is a reference a newcomer can work from: every property says what it
means, every operation what it does, and every request body carries an example that the
server itself accepts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.core.openapi import Reference, document_as_served
from tests.conftest import Staff

METHODS = ("get", "put", "post", "delete", "patch")
BODY_METHODS = ("post", "patch")

# the placeholder ids the examples use, stood in for by records the test creates
CLIENT = "8a3f2c1e-5b7d-4e9a-a0c2-1f6e8d4b3a71"
THERAPIST = "0d4e6f81-2a3b-4c5d-9e8f-7a6b5c4d3e21"
REFERRER = "5c9b1e7a-3d2f-4a8b-b6c4-e2d1f0a9b852"
REFERRAL = "c7e2a9d4-8b1f-4e3c-a5d6-9f0b2e4c6a13"
CARE_PLAN = "e1b4d7a2-6c9f-4b3e-8d5a-2c7f9e1b4d60"
GOAL = "3b8d2f6e-1a4c-4d7b-9e2f-5a8c1d6b3e94"


@pytest.fixture
def document(app: FastAPI) -> dict[str, Any]:
    doc: dict[str, Any] = app.openapi()
    return doc


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def properties(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every property of every object schema anywhere below `node`, with where it sits."""
    if isinstance(node, dict):
        for name, spec in (node.get("properties") or {}).items():
            if isinstance(spec, dict):
                yield f"{where}.{name}", spec
        for key, value in node.items():
            yield from properties(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from properties(value, f"{where}[{index}]")


# ---- the document walk -----------------------------------------------------------------------


def undocumented(document: dict[str, Any]) -> list[str]:
    """What a newcomer would find missing: properties without a description, POST/PATCH bodies
    without an example, operations without a summary or a description."""
    missing = [
        f"property {where}"
        for where, spec in properties(document.get("components", {}), "components")
        if not (spec.get("description") or "").strip()
    ]
    missing += [
        f"property {where}"
        for where, spec in properties(document.get("paths", {}), "paths")
        if not (spec.get("description") or "").strip()
    ]
    for path, method, operation in operations(document):
        for key in ("summary", "description"):
            if not (operation.get(key) or "").strip():
                missing.append(f"{key} of {method.upper()} {path}")
        if method in BODY_METHODS and "requestBody" in operation:
            for media_type, media in operation["requestBody"]["content"].items():
                if "example" not in media and not media.get("examples"):
                    missing.append(f"example of {method.upper()} {path} ({media_type})")
    return missing


def test_every_property_operation_and_request_body_is_documented(
    document: dict[str, Any],
) -> None:
    assert undocumented(document) == []
    described = sum(1 for _ in properties(document["components"], "components"))
    assert described > 500


def test_the_walk_finds_each_kind_of_gap() -> None:
    document: dict[str, Any] = {
        "paths": {
            "/v1/things": {
                "post": {
                    "summary": "Create a thing",
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ThingCreate"}
                            }
                        }
                    },
                },
                "get": {"summary": "List things", "description": "Lists them."},
                "patch": {"description": "Changes it.", "summary": " "},
            }
        },
        "components": {
            "schemas": {
                "ThingCreate": {
                    "properties": {
                        "name": {"type": "string"},
                        "size": {"type": "integer", "description": "In centimetres"},
                        "owner": {
                            "type": "object",
                            "properties": {"id": {"type": "string", "description": ""}},
                        },
                    }
                }
            }
        },
    }
    assert sorted(undocumented(document)) == sorted(
        [
            "description of POST /v1/things",
            "example of POST /v1/things (application/json)",
            "property components/schemas/ThingCreate/properties/owner.id",
            "property components/schemas/ThingCreate.name",
            "property components/schemas/ThingCreate.owner",
            "summary of PATCH /v1/things",
        ]
    )
    thing = document["components"]["schemas"]["ThingCreate"]["properties"]
    thing["name"]["description"] = "What it is called"
    thing["owner"]["description"] = "Who it belongs to"
    document["components"]["schemas"]["ThingCreate"]["properties"]["owner"]["properties"]["id"][
        "description"
    ] = "Who owns it"
    post = document["paths"]["/v1/things"]["post"]
    post["description"] = "Creates one."
    post["requestBody"]["content"]["application/json"]["example"] = {"name": "x", "size": 1}
    document["paths"]["/v1/things"]["patch"]["summary"] = "Change a thing"
    assert undocumented(document) == []


def test_the_reference_fills_only_what_the_schema_leaves_unsaid() -> None:
    document: dict[str, Any] = {
        "paths": {
            "/v1/things": {
                "post": {
                    "summary": "Create a thing",
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ThingCreate"}
                            }
                        }
                    },
                    "responses": {},
                },
                "get": {"summary": "List", "description": "Said in the route", "responses": {}},
            }
        },
        "components": {
            "schemas": {
                "ThingCreate": {
                    "properties": {
                        "name": {"type": "string"},
                        "size": {"type": "integer", "description": "Said in the schema"},
                        "colour": {"type": "string"},
                    }
                },
                "Other": {"properties": {"name": {"type": "string"}}},
            }
        },
    }
    table = {("ThingCreate", "name"): "What it is called", ("Other", "size"): "Not this one"}
    reference = Reference(
        field_description=lambda schema, name: table.get((schema, name)),
        operations={"POST /v1/things": "Creates a thing.", "GET /v1/things": "Not this"},
        examples={"ThingCreate": {"name": "Bolster"}},
    )
    document_as_served(document, reference)
    props = document["components"]["schemas"]["ThingCreate"]["properties"]
    assert props["name"]["description"] == "What it is called"
    assert props["size"]["description"] == "Said in the schema"
    assert "description" not in props["colour"]
    assert "description" not in document["components"]["schemas"]["Other"]["properties"]["name"]
    post = document["paths"]["/v1/things"]["post"]
    assert post["description"] == "Creates a thing."
    assert post["requestBody"]["content"]["application/json"]["example"] == {"name": "Bolster"}
    assert document["paths"]["/v1/things"]["get"]["description"] == "Said in the route"


def test_descriptions_say_more_than_the_name(document: dict[str, Any]) -> None:
    """A description that only repeats the field's name ("Email", "Created At") tells a
    newcomer nothing."""
    echoes = []
    for where, spec in properties(document["components"], "components"):
        name = where.rsplit(".", 1)[-1]
        words = re.sub(r"[^a-z]", "", spec.get("description", "").lower())
        if words == name.replace("_", "").lower():
            echoes.append(where)
    assert echoes == []


def test_request_examples_read_like_a_clinic(document: dict[str, Any]) -> None:
    body = document["paths"]["/v1/clients"]["post"]["requestBody"]["content"]["application/json"]
    assert body["example"]["given_name"] == "Zoë"
    assert body["example"]["family_name"] == "Okafor"
    referral = document["paths"]["/v1/referrals"]["post"]["requestBody"]["content"]
    assert referral["application/json"]["example"]["diagnosis_codes"] == ["M54.5"]
    goal = document["paths"]["/v1/care-plans/{care_plan_id}/goals"]["post"]["requestBody"]
    example = goal["content"]["application/json"]["example"]
    assert (example["measure"], example["baseline_value"], example["target_value"]) == (
        "nprs",
        7,
        2,
    )
    session = document["paths"]["/v1/sessions"]["post"]["requestBody"]["content"]
    assert set(session["application/json"]["example"]["soap"]) == {
        "subjective",
        "objective",
        "assessment",
        "plan",
    }
    strings = [
        value
        for _, _, operation in operations(document)
        for media in operation.get("requestBody", {}).get("content", {}).values()
        for value in _leaves(media.get("example"))
        if isinstance(value, str)
    ]
    assert strings
    assert "string" not in strings


def _leaves(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _leaves(value)
    elif isinstance(node, list):
        for value in node:
            yield from _leaves(value)
    else:
        yield node


# ---- every example, posted to the live app ---------------------------------------------------

# (method, path, role, path parameter → id name, name to keep the new record's id under);
# in an order where each example finds the records it names
STEPS: list[tuple[str, str, str, dict[str, str], str | None]] = [
    ("post", "/v1/therapists", "admin", {}, "therapist"),
    ("patch", "/v1/therapists/{entry_id}", "admin", {"entry_id": "therapist"}, None),
    ("post", "/v1/referring-professionals", "admin", {}, "referrer"),
    (
        "patch",
        "/v1/referring-professionals/{entry_id}",
        "admin",
        {"entry_id": "referrer"},
        None,
    ),
    ("post", "/v1/clients", "admin", {}, "client"),
    ("patch", "/v1/clients/{client_id}", "admin", {"client_id": "client"}, None),
    ("post", "/v1/clients/{client_id}/precautions", "admin", {"client_id": "client"}, "precaution"),
    (
        "post",
        "/v1/precautions/{precaution_id}/clearance",
        "admin",
        {"precaution_id": "precaution"},
        None,
    ),
    ("patch", "/v1/precautions/{precaution_id}", "admin", {"precaution_id": "precaution"}, None),
    ("post", "/v1/clients/{client_id}/consents", "admin", {"client_id": "client"}, None),
    ("post", "/v1/referrals", "admin", {}, "referral"),
    ("patch", "/v1/referrals/{referral_id}", "admin", {"referral_id": "referral"}, None),
    ("post", "/v1/care-plans", "admin", {}, "care_plan"),
    ("patch", "/v1/care-plans/{care_plan_id}", "admin", {"care_plan_id": "care_plan"}, None),
    ("post", "/v1/care-plans/{care_plan_id}/goals", "admin", {"care_plan_id": "care_plan"}, "goal"),
    ("patch", "/v1/goals/{goal_id}", "admin", {"goal_id": "goal"}, None),
    ("post", "/v1/sessions", "admin", {}, "session"),
    ("patch", "/v1/sessions/{session_id}", "admin", {"session_id": "session"}, None),
    # signing is a person's act: the session's own therapist signs before the addendum
    ("post", "/v1/sessions/{session_id}/sign", "therapist", {"session_id": "session"}, None),
    ("post", "/v1/sessions/{session_id}/addenda", "admin", {"session_id": "session"}, None),
    ("post", "/v1/users", "admin", {}, "user"),
    ("patch", "/v1/users/{user_id}", "admin", {"user_id": "user"}, None),
    ("post", "/v1/auth/token", "public", {}, None),
    ("post", "/v1/api-keys", "admin", {}, None),
    ("post", "/v1/webhooks", "admin", {}, "webhook"),
    ("patch", "/v1/webhooks/{webhook_id}", "admin", {"webhook_id": "webhook"}, None),
]


def _substitute(node: Any, ids: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {key: _substitute(value, ids) for key, value in node.items()}
    if isinstance(node, list):
        return [_substitute(value, ids) for value in node]
    return ids.get(node, node) if isinstance(node, str) else node


def test_the_steps_cover_every_request_body(document: dict[str, Any]) -> None:
    with_body = {
        (method, path)
        for path, method, operation in operations(document)
        if method in BODY_METHODS and "requestBody" in operation
    }
    stepped = {(method, path) for method, path, *_ in STEPS}
    assert with_body - stepped == set()


async def test_every_example_is_accepted_by_the_server(
    client: httpx.AsyncClient, document: dict[str, Any], staff: Staff
) -> None:
    created: dict[str, str] = {}
    etags: dict[str, str] = {}
    placeholders = {
        CLIENT: "client",
        REFERRER: "referrer",
        REFERRAL: "referral",
        CARE_PLAN: "care_plan",
        GOAL: "goal",
    }
    for method, path, role, params, keep in STEPS:
        operation = document["paths"][path][method]
        ids = {
            placeholder: created[name]
            for placeholder, name in placeholders.items()
            if name in created
        }
        # the session is the staff therapist's own, so that therapist can sign it
        ids[THERAPIST] = str(staff.therapist_id)
        url = path.format(**{param: created[name] for param, name in params.items()})
        headers = {} if role == "public" else staff.headers(role)
        if method == "patch":
            headers["If-Match"] = etags[next(iter(params.values()))]
        content = operation.get("requestBody", {}).get("content", {})
        if "application/x-www-form-urlencoded" in content:
            form = content["application/x-www-form-urlencoded"]["example"]
            response = await client.post(url, data=form, headers=headers)
        elif content:
            body = _substitute(content["application/json"]["example"], ids)
            response = await client.request(method.upper(), url, json=body, headers=headers)
        else:
            response = await client.request(method.upper(), url, headers=headers)
        assert response.status_code in (200, 201), (method, path, response.text)
        answer = response.json()
        if keep is not None:
            created[keep] = answer["id"]
        # any answer about a record (a clearance too) carries its new version
        for name, record_id in created.items():
            if isinstance(answer, dict) and answer.get("id") == record_id:
                etags[name] = response.headers["ETag"]
    assert {"therapist", "referrer", "client", "care_plan", "goal", "session"} <= set(created)


def test_responses_show_the_examples_values_not_string(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    client_read = schemas["ClientRead"]["properties"]
    assert client_read["given_name"]["examples"] == ["Zoë"]
    assert client_read["address"]["examples"] == ["14 Tannery Lane, Bristol BS1 4DJ"]
    assert schemas["EmergencyContact"]["properties"]["phone"]["examples"] == ["+44 7700 900456"]
    contact_read = schemas["EmergencyContactRead"]["properties"]["phone"]
    assert contact_read["examples"] == ["+44 7700 900456"]
    assert (
        contact_read["description"]
        == schemas["EmergencyContact"]["properties"]["phone"]["description"]
    )
    assert schemas["SessionRead"]["properties"]["duration_minutes"]["examples"] == [60]
    assert schemas["SoapRead"]["properties"]["plan"]["examples"] == [
        "Weekly sessions; add hip flexor stretches at home."
    ]


def test_a_read_schema_borrows_its_create_schemas_example() -> None:
    document: dict[str, Any] = {
        "paths": {},
        "components": {
            "schemas": {
                "ThingRead": {
                    "properties": {
                        "name": {"type": "string"},
                        "owner": {"$ref": "#/components/schemas/Owner"},
                        "size": {"type": "integer"},
                    }
                },
                "ThingCreated": {"properties": {"name": {"type": "string"}}},
                "PartRead": {"properties": {"name": {"type": "string"}}},
                "Other": {"properties": {"name": {"type": "string"}}},
            }
        },
    }
    reference = Reference(
        examples={
            "ThingCreate": {"name": "Bolster", "owner": {"id": "x"}},
            "Part": {"name": "Wedge"},
        }
    )
    document_as_served(document, reference)
    schemas = document["components"]["schemas"]
    assert schemas["ThingRead"]["properties"]["name"]["examples"] == ["Bolster"]
    assert schemas["ThingCreated"]["properties"]["name"]["examples"] == ["Bolster"]
    assert "examples" not in schemas["ThingRead"]["properties"]["owner"]
    assert "examples" not in schemas["ThingRead"]["properties"]["size"]
    assert "examples" not in schemas["Other"]["properties"]["name"]
    assert schemas["PartRead"]["properties"]["name"]["examples"] == ["Wedge"]


def test_links_say_where_they_lead(document: dict[str, Any]) -> None:
    links = document["paths"]["/v1/clients"]["post"]["responses"]["201"]["links"]
    get = links["get_client_v1_clients__client_id__get"]
    assert get["description"] == "GET `/v1/clients/{client_id}`: Get Client"
    assert all(link["description"] for link in links.values())


def test_each_problem_response_shows_a_problem_of_its_own_status(
    document: dict[str, Any],
) -> None:
    seen = set()
    for path, method, operation in operations(document):
        for code, response in operation["responses"].items():
            if code == "default" or int(code) < 400 or code == "409" or path.startswith("/fhir/"):
                continue
            for media in response["content"].values():
                example = media["example"]
                assert example["status"] == int(code), (method, path, code)
                assert example["type"].startswith("/problems/"), (method, path, code)
                seen.add((code, example["type"]))
    assert {
        ("401", "/problems/unauthorized"),
        ("403", "/problems/forbidden"),
        ("404", "/problems/not-found"),
        ("412", "/problems/precondition-failed"),
        ("413", "/problems/payload-too-large"),
        ("415", "/problems/unsupported-media-type"),
        ("422", "/problems/validation-error"),
        ("428", "/problems/precondition-required"),
    } <= seen


def test_lists_and_path_parameters_are_shown_and_described(document: dict[str, Any]) -> None:
    session_read = document["components"]["schemas"]["SessionRead"]["properties"]
    assert session_read["body_regions"]["examples"] == [["lower_back", "glutes", "hips"]]
    assert session_read["techniques"]["examples"] == [["myofascial release", "trigger point"]]
    patch = document["paths"]["/v1/sessions/{session_id}"]["patch"]
    (session_id,) = [p for p in patch["parameters"] if p["in"] == "path"]
    assert session_id["description"] == "The session's id, as `id` in its record"
    for path, method, operation in operations(document):
        for parameter in operation.get("parameters", []):
            assert parameter.get("description"), (method, path, parameter["name"])
