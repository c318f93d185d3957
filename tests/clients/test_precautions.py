"""Precautions: create, list, read, change, clearance; what each role may see and do."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests import factories
from tests.conftest import Staff
from tests.core.problems import assert_problem, error_locs


@pytest.fixture
async def client_id(client: httpx.AsyncClient, staff: Staff) -> str:
    response = await client.post(
        "/v1/clients", json=factories.client(), headers=staff.headers("admin")
    )
    assert response.status_code == 201
    cid: str = response.json()["id"]
    return cid


async def _add(
    client: httpx.AsyncClient, staff: Staff, owner: str, role: str = "therapist", **over: Any
) -> httpx.Response:
    return await client.post(
        f"/v1/clients/{owner}/precautions",
        json=factories.precaution(**over),
        headers=staff.headers(role),
    )


async def test_create_list_get_patch(
    client: httpx.AsyncClient, staff: Staff, client_id: str
) -> None:
    created = await _add(client, staff, client_id)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["client_id"] == client_id
    assert body["status"] == "active"
    assert body["requires_clearance"] is False
    assert body["clearance"] is None
    assert body["description"] == "Left knee arthroscopy six weeks ago"
    assert created.headers["location"] == f"/v1/precautions/{body['id']}"
    second = await _add(
        client, staff, client_id, "admin", category="dvt", severity="absolute", body_regions=[]
    )
    assert second.status_code == 201, second.text

    listed = await client.get(
        f"/v1/clients/{client_id}/precautions", headers=staff.headers("admin")
    )
    assert [p["id"] for p in listed.json()["items"]] == [body["id"], second.json()["id"]]

    url = f"/v1/precautions/{body['id']}"
    fetched = await client.get(url, headers=staff.headers("therapist"))
    assert fetched.json() == body
    assert fetched.headers["etag"] == '"1"'

    patched = await client.patch(
        url,
        json={"status": "resolved", "description": None, "body_regions": ["knees", "legs"]},
        headers={**staff.headers("therapist"), "If-Match": '"1"'},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["status"] == "resolved"
    assert patched.json()["description"] is None
    assert patched.json()["body_regions"] == ["knees", "legs"]
    assert patched.headers["etag"] == '"2"'


async def test_precautions_of_another_client_are_not_listed(
    client: httpx.AsyncClient, staff: Staff, client_id: str
) -> None:
    other = (
        await client.post("/v1/clients", json=factories.client(), headers=staff.headers("admin"))
    ).json()["id"]
    assert (await _add(client, staff, other)).status_code == 201
    listed = await client.get(
        f"/v1/clients/{client_id}/precautions", headers=staff.headers("admin")
    )
    assert listed.json()["items"] == []


@pytest.mark.parametrize(
    ("over", "loc"),
    [
        ({"severity": "local", "body_regions": []}, []),
        ({"category": "sunburn"}, ["category"]),
        ({"severity": "mild"}, ["severity"]),
        ({"body_regions": ["tail"]}, ["body_regions", 0]),
        ({"status": "gone"}, ["status"]),
        ({"description": "d" * 20_001}, ["description"]),
        ({"clearance": {"note": "x"}}, ["clearance"]),
        ({"client_id": str(uuid.uuid4())}, ["client_id"]),
    ],
)
async def test_precaution_bodies_are_validated(
    client: httpx.AsyncClient, staff: Staff, client_id: str, over: dict[str, Any], loc: list[Any]
) -> None:
    response = await _add(client, staff, client_id, **over)
    locs = error_locs(assert_problem(response, 422, "validation-error"))
    assert any(found[: len(loc) + 1] == ["body", *loc] for found in locs)
    listed = await client.get(
        f"/v1/clients/{client_id}/precautions", headers=staff.headers("admin")
    )
    assert listed.json()["items"] == []


@pytest.mark.parametrize(
    ("first", "patch"),
    [
        ({"severity": "local"}, {"body_regions": []}),
        ({"severity": "relative", "body_regions": []}, {"severity": "local"}),
        ({"severity": "local"}, {"severity": None}),
        ({"severity": "local"}, {"body_regions": None}),
        ({"severity": "local"}, {"client_id": str(uuid.uuid4())}),
        ({"severity": "local"}, {"clearance_note": "cleared"}),
    ],
)
async def test_invalid_precaution_patches_are_422(
    client: httpx.AsyncClient,
    staff: Staff,
    client_id: str,
    first: dict[str, Any],
    patch: dict[str, Any],
) -> None:
    created = (await _add(client, staff, client_id, **first)).json()
    url = f"/v1/precautions/{created['id']}"
    response = await client.patch(
        url, json=patch, headers={**staff.headers("therapist"), "If-Match": '"1"'}
    )
    assert_problem(response, 422, "validation-error")
    assert (await client.get(url, headers=staff.headers("admin"))).json() == created


async def test_local_with_regions_may_become_absolute_without_them(
    client: httpx.AsyncClient, staff: Staff, client_id: str
) -> None:
    created = (await _add(client, staff, client_id)).json()
    response = await client.patch(
        f"/v1/precautions/{created['id']}",
        json={"severity": "absolute", "body_regions": []},
        headers={**staff.headers("admin"), "If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text
    assert response.json()["body_regions"] == []


async def test_clearance(client: httpx.AsyncClient, staff: Staff, client_id: str) -> None:
    created = (
        await _add(
            client, staff, client_id, category="dvt", severity="absolute", requires_clearance=True
        )
    ).json()
    url = f"/v1/precautions/{created['id']}/clearance"
    clearance = {
        "referring_professional_id": str(staff.referring_professional_id),
        "cleared_on": "2026-02-01",
        "note": "Cleared after ultrasound",
    }
    response = await client.post(url, json=clearance, headers=staff.headers("therapist"))
    assert response.status_code == 200, response.text
    assert response.json()["clearance"] == clearance
    assert response.json()["version"] == 2
    assert response.headers["etag"] == '"2"'
    fetched = await client.get(f"/v1/precautions/{created['id']}", headers=staff.headers("admin"))
    assert fetched.json()["clearance"] == clearance


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (
            {"referring_professional_id": str(uuid.uuid4()), "cleared_on": "2026-02-01"},
            "referring_professional_id",
        ),
        ({"referring_professional_id": "RP"}, "cleared_on"),
        ({"cleared_on": "2026-02-01"}, "referring_professional_id"),
        ({"referring_professional_id": "RP", "cleared_on": "2026-02-01", "by": "me"}, "by"),
    ],
)
async def test_bad_clearance_is_422(
    client: httpx.AsyncClient, staff: Staff, client_id: str, body: dict[str, str], loc: str
) -> None:
    created = (await _add(client, staff, client_id)).json()
    resolved = {
        k: str(staff.referring_professional_id) if v == "RP" else v for k, v in body.items()
    }
    response = await client.post(
        f"/v1/precautions/{created['id']}/clearance", json=resolved, headers=staff.headers("admin")
    )
    assert ["body", loc] in error_locs(assert_problem(response, 422, "validation-error"))
    fetched = await client.get(f"/v1/precautions/{created['id']}", headers=staff.headers("admin"))
    assert fetched.json() == created


async def test_clearance_by_an_archived_referring_professional_is_422(
    client: httpx.AsyncClient, staff: Staff, client_id: str
) -> None:
    rp = (
        await client.post(
            "/v1/referring-professionals",
            json=factories.referring_professional(),
            headers=staff.headers("admin"),
        )
    ).json()
    await client.delete(f"/v1/referring-professionals/{rp['id']}", headers=staff.headers("admin"))
    created = (await _add(client, staff, client_id)).json()
    response = await client.post(
        f"/v1/precautions/{created['id']}/clearance",
        json={"referring_professional_id": rp["id"], "cleared_on": "2026-02-01"},
        headers=staff.headers("admin"),
    )
    assert_problem(response, 422, "validation-error")


async def test_front_desk_sees_precautions_without_description(
    client: httpx.AsyncClient, staff: Staff, client_id: str
) -> None:
    created = (await _add(client, staff, client_id)).json()
    listed = await client.get(
        f"/v1/clients/{client_id}/precautions", headers=staff.headers("front_desk")
    )
    assert listed.status_code == 200
    [item] = listed.json()["items"]
    assert "description" not in item
    assert item["category"] == "recent_surgery"
    assert item["body_regions"] == ["knees"]
    one = await client.get(f"/v1/precautions/{created['id']}", headers=staff.headers("front_desk"))
    assert one.status_code == 200
    assert "description" not in one.json()
    assert "arthroscopy" not in one.text
    assert {k: v for k, v in created.items() if k != "description"} == one.json()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/clients/CLIENT/precautions"),
        ("PATCH", "/v1/precautions/PRECAUTION"),
        ("POST", "/v1/precautions/PRECAUTION/clearance"),
    ],
)
async def test_front_desk_cannot_write_precautions(
    client: httpx.AsyncClient, staff: Staff, client_id: str, method: str, path: str
) -> None:
    created = (await _add(client, staff, client_id)).json()
    url = path.replace("CLIENT", client_id).replace("PRECAUTION", created["id"])
    body = {
        "POST": factories.precaution()
        if "clearance" not in path
        else {
            "referring_professional_id": str(staff.referring_professional_id),
            "cleared_on": "2026-01-01",
        },
        "PATCH": {"status": "resolved"},
    }[method]
    response = await client.request(
        method, url, json=body, headers={**staff.headers("front_desk"), "If-Match": '"1"'}
    )
    assert_problem(response, 403, "forbidden")
    fetched = await client.get(f"/v1/precautions/{created['id']}", headers=staff.headers("admin"))
    assert fetched.json() == created


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/clients/CLIENT/precautions"),
        ("POST", "/v1/clients/CLIENT/precautions"),
        ("GET", "/v1/precautions/PRECAUTION"),
        ("PATCH", "/v1/precautions/PRECAUTION"),
    ],
)
async def test_referrer_cannot_touch_precautions(
    client: httpx.AsyncClient, staff: Staff, client_id: str, method: str, path: str
) -> None:
    created = (await _add(client, staff, client_id)).json()
    url = path.replace("CLIENT", client_id).replace("PRECAUTION", created["id"])
    response = await client.request(
        method,
        url,
        json=factories.precaution() if method == "POST" else {"status": "resolved"},
        headers={**staff.headers("referrer"), "If-Match": '"1"'},
    )
    assert_problem(response, 403, "forbidden")


async def test_precautions_of_unknown_or_archived_clients_are_404(
    client: httpx.AsyncClient, staff: Staff, client_id: str
) -> None:
    assert_problem(await _add(client, staff, str(uuid.uuid4())), 404, "not-found")
    assert (
        await client.delete(f"/v1/clients/{client_id}", headers=staff.headers("admin"))
    ).status_code == 204
    assert_problem(await _add(client, staff, client_id), 404, "not-found")
    listed = await client.get(
        f"/v1/clients/{client_id}/precautions", headers=staff.headers("admin")
    )
    assert_problem(listed, 404, "not-found")
    assert_problem(
        await client.get(f"/v1/precautions/{uuid.uuid4()}", headers=staff.headers("admin")),
        404,
        "not-found",
    )


async def test_an_archived_clients_precautions_and_consents_are_gone(
    client: httpx.AsyncClient, staff: Staff
) -> None:
    admin = staff.headers("admin")
    created = (await client.post("/v1/clients", json=factories.client(), headers=admin)).json()
    precaution = await client.post(
        f"/v1/clients/{created['id']}/precautions", json=factories.precaution(), headers=admin
    )
    consent = await client.post(
        f"/v1/clients/{created['id']}/consents",
        json={"kind": "treatment", "granted_on": "2030-01-01"},
        headers=admin,
    )
    urls = [f"/v1/precautions/{precaution.json()['id']}", f"/v1/consents/{consent.json()['id']}"]
    for url in urls:
        assert (await client.get(url, headers=admin)).status_code == 200
    assert (await client.delete(f"/v1/clients/{created['id']}", headers=admin)).status_code == 204
    for url in urls:
        assert (await client.get(url, headers=admin)).status_code == 404


async def test_front_desk_sees_a_clearance_without_its_note(
    client: httpx.AsyncClient, staff: Staff, client_id: str
) -> None:
    created = (
        await _add(
            client, staff, client_id, category="dvt", severity="absolute", requires_clearance=True
        )
    ).json()
    cleared = await client.post(
        f"/v1/precautions/{created['id']}/clearance",
        json={
            "referring_professional_id": str(staff.referring_professional_id),
            "cleared_on": "2026-02-01",
            "note": "Cleared after a negative duplex ultrasound",
        },
        headers=staff.headers("therapist"),
    )
    assert cleared.status_code == 200, cleared.text
    desk = staff.headers("front_desk")
    one = await client.get(f"/v1/precautions/{created['id']}", headers=desk)
    listed = await client.get(f"/v1/clients/{client_id}/precautions", headers=desk)
    for shown in (one.json(), listed.json()["items"][0]):
        assert shown["clearance"] == {
            "referring_professional_id": str(staff.referring_professional_id),
            "cleared_on": "2026-02-01",
        }
    assert "ultrasound" not in one.text + listed.text
    # clinicians still read the note
    for role in ("therapist", "admin"):
        read = await client.get(f"/v1/precautions/{created['id']}", headers=staff.headers(role))
        assert read.json()["clearance"]["note"] == "Cleared after a negative duplex ultrasound"
