"""`ETag` / `If-Match` and JSON merge-patch on every directory and client resource."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from tests import factories
from tests.conftest import Staff
from tests.core.problems import assert_problem, error_locs


@dataclass(frozen=True)
class Kind:
    path: str
    body: Callable[..., dict[str, Any]]
    required: str  # a field that may change but never be cleared
    optional: str  # a field that `null` clears
    change: tuple[str, Any]  # a valid change

    def __str__(self) -> str:
        return self.path


KINDS = [
    Kind("therapists", factories.therapist, "full_name", "email", ("phone", "+1 555 0199")),
    Kind(
        "referring-professionals",
        factories.referring_professional,
        "discipline",
        "organization",
        ("fax", "+1 555 0188"),
    ),
    Kind("clients", factories.client, "family_name", "emergency_contact", ("notes", "Prefers AM")),
]


def _at(timestamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(timestamp)


async def _create(client: httpx.AsyncClient, staff: Staff, kind: Kind) -> dict[str, Any]:
    response = await client.post(
        f"/v1/{kind.path}", json=kind.body(), headers=staff.headers("admin")
    )
    assert response.status_code == 201, response.text
    assert response.headers["etag"] == '"1"'
    assert response.headers["location"] == f"/v1/{kind.path}/{response.json()['id']}"
    body: dict[str, Any] = response.json()
    return body


async def _patch(
    client: httpx.AsyncClient, staff: Staff, url: str, body: Any, if_match: str | None = '"1"'
) -> httpx.Response:
    headers = staff.headers("admin")
    if if_match is not None:
        headers["If-Match"] = if_match
    return await client.patch(url, json=body, headers=headers)


@pytest.fixture(params=KINDS, ids=str)
def kind(request: pytest.FixtureRequest) -> Kind:
    param: Kind = request.param
    return param


async def test_get_has_etag_and_success_bumps_version(
    client: httpx.AsyncClient, staff: Staff, kind: Kind
) -> None:
    created = await _create(client, staff, kind)
    url = f"/v1/{kind.path}/{created['id']}"
    fetched = await client.get(url, headers=staff.headers("admin"))
    assert fetched.headers["etag"] == '"1"'
    assert fetched.json()["version"] == 1
    assert created["created_at"].endswith("Z")
    assert created["updated_at"].endswith("Z")

    name, value = kind.change
    patched = await _patch(client, staff, url, {name: value})
    assert patched.status_code == 200, patched.text
    assert patched.headers["etag"] == '"2"'
    body = patched.json()
    assert body["version"] == 2
    assert body[name] == value
    assert body["created_at"] == created["created_at"]
    assert _at(body["updated_at"]) > _at(created["updated_at"])
    # merge-patch: what was not sent stays as it was
    untouched = {k: v for k, v in created.items() if k not in {name, "version", "updated_at"}}
    assert {k: body[k] for k in untouched} == untouched

    again = await _patch(client, staff, url, {kind.optional: None}, '"2"')
    assert again.status_code == 200
    assert again.headers["etag"] == '"3"'
    assert (await client.get(url, headers=staff.headers("admin"))).headers["etag"] == '"3"'


@pytest.mark.parametrize(
    ("if_match", "status", "slug"),
    [
        (None, 428, "precondition-required"),
        ('"2"', 412, "precondition-failed"),
        ('"0"', 412, "precondition-failed"),
        ("not-an-etag", 412, "precondition-failed"),
    ],
)
async def test_patch_needs_the_current_version(
    client: httpx.AsyncClient,
    staff: Staff,
    kind: Kind,
    if_match: str | None,
    status: int,
    slug: str,
) -> None:
    created = await _create(client, staff, kind)
    url = f"/v1/{kind.path}/{created['id']}"
    name, value = kind.change
    assert_problem(await _patch(client, staff, url, {name: value}, if_match), status, slug)
    assert (await client.get(url, headers=staff.headers("admin"))).json() == created


async def test_stale_if_match_after_someone_else_changed_it(
    client: httpx.AsyncClient, staff: Staff, kind: Kind
) -> None:
    created = await _create(client, staff, kind)
    url = f"/v1/{kind.path}/{created['id']}"
    name, value = kind.change
    assert (await _patch(client, staff, url, {name: value})).status_code == 200
    late = await _patch(client, staff, url, {kind.optional: None})
    assert_problem(late, 412, "precondition-failed")
    current = (await client.get(url, headers=staff.headers("admin"))).json()
    assert current["version"] == 2
    assert current[kind.optional] == created[kind.optional]


@pytest.mark.parametrize(
    "field",
    ["id", "version", "created_at", "updated_at", "archived_at", "no_such_field"],
)
async def test_server_owned_and_unknown_fields_are_422(
    client: httpx.AsyncClient, staff: Staff, kind: Kind, field: str
) -> None:
    created = await _create(client, staff, kind)
    url = f"/v1/{kind.path}/{created['id']}"
    value = created.get(field, "whatever")
    name, new = kind.change
    response = await _patch(client, staff, url, {field: value or "2020-01-01T00:00:00Z", name: new})
    assert ["body", field] in error_locs(assert_problem(response, 422, "validation-error"))
    assert (await client.get(url, headers=staff.headers("admin"))).json() == created


@pytest.mark.parametrize("field", ["id", "version", "created_at"])
async def test_server_owned_fields_are_422_on_create(
    client: httpx.AsyncClient, staff: Staff, kind: Kind, field: str
) -> None:
    value: Any = {"id": "7d3f1f06-9a9c-4b8e-9a55-2b8f4f0f6d11", "version": 7}.get(
        field, "2020-01-01T00:00:00Z"
    )
    response = await client.post(
        f"/v1/{kind.path}", json=kind.body(**{field: value}), headers=staff.headers("admin")
    )
    assert ["body", field] in error_locs(assert_problem(response, 422, "validation-error"))


async def test_null_on_a_required_field_is_422(
    client: httpx.AsyncClient, staff: Staff, kind: Kind
) -> None:
    created = await _create(client, staff, kind)
    url = f"/v1/{kind.path}/{created['id']}"
    assert_problem(await _patch(client, staff, url, {kind.required: None}), 422, "validation-error")
    assert (await client.get(url, headers=staff.headers("admin"))).json() == created


async def test_null_on_an_optional_field_clears_it(
    client: httpx.AsyncClient, staff: Staff, kind: Kind
) -> None:
    created = await _create(client, staff, kind)
    assert created[kind.optional] is not None
    url = f"/v1/{kind.path}/{created['id']}"
    patched = await _patch(client, staff, url, {kind.optional: None})
    assert patched.status_code == 200, patched.text
    assert patched.json()[kind.optional] is None
    assert (await client.get(url, headers=staff.headers("admin"))).json()[kind.optional] is None


@pytest.mark.parametrize("body", [[], "text", 3, None])
async def test_patch_body_must_be_an_object(
    client: httpx.AsyncClient, staff: Staff, kind: Kind, body: Any
) -> None:
    created = await _create(client, staff, kind)
    url = f"/v1/{kind.path}/{created['id']}"
    assert_problem(await _patch(client, staff, url, body), 422, "validation-error")


@pytest.mark.parametrize("same_value", [False, True])
async def test_a_patch_that_changes_nothing_keeps_the_version(
    client: httpx.AsyncClient, staff: Staff, kind: Kind, same_value: bool
) -> None:
    created = await _create(client, staff, kind)
    url = f"/v1/{kind.path}/{created['id']}"
    body = {kind.required: created[kind.required]} if same_value else {}
    patched = await _patch(client, staff, url, body)
    assert patched.status_code == 200, patched.text
    assert patched.headers["etag"] == '"1"'
    assert patched.json() == created


async def test_weak_etag_form_is_accepted(client: httpx.AsyncClient, staff: Staff) -> None:
    created = await _create(client, staff, KINDS[0])
    url = f"/v1/therapists/{created['id']}"
    patched = await _patch(client, staff, url, {"active": False}, 'W/"1"')
    assert patched.status_code == 200, patched.text
    assert patched.json()["active"] is False


async def test_patch_of_a_missing_row_is_404(
    client: httpx.AsyncClient, staff: Staff, kind: Kind
) -> None:
    url = f"/v1/{kind.path}/7d3f1f06-9a9c-4b8e-9a55-2b8f4f0f6d11"
    name, value = kind.change
    assert_problem(await _patch(client, staff, url, {name: value}), 404, "not-found")


async def test_merge_patch_media_type_is_accepted(
    client: httpx.AsyncClient, staff: Staff, kind: Kind
) -> None:
    created = await _create(client, staff, kind)
    name, value = kind.change
    response = await client.patch(
        f"/v1/{kind.path}/{created['id']}",
        content=orjson.dumps({name: value}),
        headers={
            **staff.headers("admin"),
            "If-Match": '"1"',
            "Content-Type": "application/merge-patch+json",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()[name] == value
