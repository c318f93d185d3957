"""Directory lists: `active`, `discipline` and `q` filters, roles, validation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests import factories
from tests.conftest import Staff
from tests.core.problems import assert_problem, error_locs


async def _names(client: httpx.AsyncClient, staff: Staff, path: str, **params: Any) -> set[str]:
    response = await client.get(
        f"/v1/{path}", params={"limit": 200, **params}, headers=staff.headers("front_desk")
    )
    assert response.status_code == 200, response.text
    return {item["full_name"] for item in response.json()["items"]}


async def _post(client: httpx.AsyncClient, staff: Staff, path: str, body: dict[str, Any]) -> None:
    response = await client.post(f"/v1/{path}", json=body, headers=staff.headers("admin"))
    assert response.status_code == 201, response.text


@pytest.fixture
async def therapists(client: httpx.AsyncClient, staff: Staff) -> None:
    for name, active in [
        ("Maria de la Cruz", True),
        ("Mario Cruz-Smith", True),
        ("Lena Lymph", False),
        ("100% Relaxed_Kim", True),
    ]:
        await _post(client, staff, "therapists", factories.therapist(full_name=name, active=active))


@pytest.fixture
async def referrers(client: httpx.AsyncClient, staff: Staff) -> None:
    for name, discipline, organization, active in [
        ("Dr. Ana Onco", "oncology", "City Cancer Centre", True),
        ("Dr. Ben Bones", "chiropractic", "Spine & Co", True),
        ("Dr. Cy Mind", "psychotherapy", "Mindful Practice", False),
    ]:
        body = factories.referring_professional(
            full_name=name, discipline=discipline, organization=organization, active=active
        )
        await _post(client, staff, "referring-professionals", body)


@pytest.mark.usefixtures("therapists")
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"active": "false"}, {"Lena Lymph"}),
        ({"q": "cruz"}, {"Maria de la Cruz", "Mario Cruz-Smith"}),
        ({"q": "CRUZ maria"}, {"Maria de la Cruz"}),
        ({"q": "mar  cruz"}, {"Maria de la Cruz", "Mario Cruz-Smith"}),
        ({"q": "cruz smith"}, {"Mario Cruz-Smith"}),
        ({"q": "cruz nobody"}, set()),
        ({"q": "lymph", "active": "true"}, set()),
        ({"q": "100%"}, {"100% Relaxed_Kim"}),  # LIKE wildcards are literal
        ({"q": "_"}, {"100% Relaxed_Kim"}),
        ({"q": "%"}, {"100% Relaxed_Kim"}),
    ],
)
async def test_therapist_filters(
    client: httpx.AsyncClient, staff: Staff, params: dict[str, str], expected: set[str]
) -> None:
    assert await _names(client, staff, "therapists", **params) == expected


@pytest.mark.usefixtures("therapists")
async def test_active_true_lists_active_therapists(client: httpx.AsyncClient, staff: Staff) -> None:
    names = await _names(client, staff, "therapists", active="true")
    assert "Lena Lymph" not in names
    assert {"Maria de la Cruz", "Mario Cruz-Smith", "100% Relaxed_Kim", "Ada Kneading"} <= names


@pytest.mark.usefixtures("referrers")
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"discipline": "oncology"}, {"Dr. Ana Onco"}),
        ({"discipline": "chiropractic", "active": "true"}, {"Dr. Ben Bones"}),
        ({"discipline": "psychotherapy", "active": "true"}, set()),
        ({"active": "false"}, {"Dr. Cy Mind"}),
        ({"q": "dr. ana"}, {"Dr. Ana Onco"}),
        ({"q": "cancer"}, {"Dr. Ana Onco"}),  # the organization is searched too
        ({"q": "spine BEN"}, {"Dr. Ben Bones"}),
        ({"q": "zzz"}, set()),
    ],
)
async def test_referring_professional_filters(
    client: httpx.AsyncClient, staff: Staff, params: dict[str, str], expected: set[str]
) -> None:
    names = await _names(client, staff, "referring-professionals", **params)
    assert names - {"Dr. Pat Physio"} == expected


@pytest.mark.parametrize(
    ("path", "params", "loc"),
    [
        ("referring-professionals", {"discipline": "astrology"}, "discipline"),
        ("therapists", {"active": "maybe"}, "active"),
        ("therapists", {"q": ""}, "q"),
        ("therapists", {"q": "x" * 101}, "q"),
        ("referring-professionals", {"include_archived": "perhaps"}, "include_archived"),
    ],
)
async def test_bad_filters_are_422(
    client: httpx.AsyncClient, staff: Staff, path: str, params: dict[str, str], loc: str
) -> None:
    response = await client.get(f"/v1/{path}", params=params, headers=staff.headers("admin"))
    assert error_locs(assert_problem(response, 422, "validation-error")) == [["query", loc]]


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        ("therapists", factories.therapist(certifications=["reiki"]), ["certifications", 0]),
        (
            "therapists",
            factories.therapist(license_expires_on="31/12/2030"),
            ["license_expires_on"],
        ),
        ("therapists", factories.therapist(full_name="   "), ["full_name"]),
        ("therapists", factories.therapist(email="nope"), ["email"]),
        ("therapists", factories.therapist(credentials="LMT"), ["credentials"]),
        (
            "referring-professionals",
            factories.referring_professional(discipline="x"),
            ["discipline"],
        ),
        ("referring-professionals", {"discipline": "other"}, ["full_name"]),
    ],
)
async def test_directory_bodies_are_validated(
    client: httpx.AsyncClient, staff: Staff, path: str, body: dict[str, Any], loc: list[Any]
) -> None:
    response = await client.post(f"/v1/{path}", json=body, headers=staff.headers("admin"))
    assert ["body", *loc] in error_locs(assert_problem(response, 422, "validation-error"))


@pytest.mark.parametrize("path", ["therapists", "referring-professionals"])
async def test_directory_roles(client: httpx.AsyncClient, staff: Staff, path: str) -> None:
    body = factories.therapist() if path == "therapists" else factories.referring_professional()
    for role in ("admin", "front_desk"):
        created = await client.post(f"/v1/{path}", json=body, headers=staff.headers(role))
        assert created.status_code == 201, created.text
    row = created.json()
    url = f"/v1/{path}/{row['id']}"
    assert (await client.get(url, headers=staff.headers("therapist"))).status_code == 200
    assert_problem(
        await client.post(f"/v1/{path}", json=body, headers=staff.headers("therapist")),
        403,
        "forbidden",
    )
    assert_problem(
        await client.patch(
            url, json={"active": False}, headers={**staff.headers("therapist"), "If-Match": '"1"'}
        ),
        403,
        "forbidden",
    )
    assert_problem(await client.delete(url, headers=staff.headers("therapist")), 403, "forbidden")
    for method in ("GET", "POST"):
        response = await client.request(
            method, f"/v1/{path}", json=body, headers=staff.headers("referrer")
        )
        assert_problem(response, 403, "forbidden")
    assert_problem(await client.get(url, headers=staff.headers("referrer")), 403, "forbidden")


@pytest.mark.parametrize("path", ["therapists", "referring-professionals"])
async def test_archived_entries(client: httpx.AsyncClient, staff: Staff, path: str) -> None:
    body = factories.therapist() if path == "therapists" else factories.referring_professional()
    row = (await client.post(f"/v1/{path}", json=body, headers=staff.headers("admin"))).json()
    url = f"/v1/{path}/{row['id']}"
    assert (await client.delete(url, headers=staff.headers("admin"))).status_code == 204
    assert_problem(await client.get(url, headers=staff.headers("admin")), 404, "not-found")
    assert_problem(
        await client.patch(
            url, json={"active": False}, headers={**staff.headers("admin"), "If-Match": '"2"'}
        ),
        404,
        "not-found",
    )
    assert_problem(await client.delete(url, headers=staff.headers("admin")), 404, "not-found")
    kept = await client.get(f"{url}?include_archived=true", headers=staff.headers("admin"))
    assert kept.status_code == 200
    assert kept.json()["archived_at"] is not None
    assert kept.headers["etag"] == '"2"'
