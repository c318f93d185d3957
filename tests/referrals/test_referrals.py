from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from typing import Any

import httpx
import pytest

from app.core.security import Role
from app.referrals.schemas import ReferralStatus, normalize_icd10
from app.referrals.service import REFERRAL_STATUS
from tests.conftest import Staff
from tests.core.problems import assert_problem
from tests.referrals.factories import (
    new_client,
    new_referral,
    new_referring_professional,
    problem_locs,
    referral,
)

STATUSES = [s.value for s in ReferralStatus]
ALLOWED_MOVES = {
    ("pending", "accepted"),
    ("pending", "declined"),
    ("pending", "cancelled"),
    ("accepted", "completed"),
    ("accepted", "cancelled"),
}


async def _ids(http: httpx.AsyncClient, query: str, headers: dict[str, str]) -> list[str]:
    response = await http.get(f"/v1/referrals?{query}", headers=headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


# ---- create, read, update, archive ------------------------------------------------------------


async def test_create_get_patch_archive(
    client: httpx.AsyncClient, staff: Staff, client_id: str
) -> None:
    admin = staff.headers("admin")
    rp = str(staff.referring_professional_id)
    response = await client.post(
        "/v1/referrals",
        json=referral(client_id, rp, diagnosis_codes=["m54.5", "S83.2", "m545"]),
        headers=admin,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    rid = body["id"]
    assert response.headers["location"] == f"/v1/referrals/{rid}"
    assert response.headers["etag"] == '"1"'
    assert body["version"] == 1
    assert body["status"] == "pending"
    assert body["client_id"] == client_id
    assert body["referring_professional_id"] == rp
    assert body["diagnosis_codes"] == ["M54.5", "S83.2", "M54.5"]
    assert body["received_on"] == "2026-03-02"
    assert body["authorized_sessions"] == 8
    assert body["archived_at"] is None
    assert body["created_at"].endswith("Z")

    fetched = await client.get(f"/v1/referrals/{rid}", headers=admin)
    assert fetched.status_code == 200
    assert fetched.headers["etag"] == '"1"'
    assert fetched.json() == body

    patched = await client.patch(
        f"/v1/referrals/{rid}",
        json={"status": "accepted", "authorized_sessions": None, "reason": "Back pain"},
        headers={**admin, "If-Match": '"1"'},
    )
    assert patched.status_code == 200, patched.text
    assert patched.headers["etag"] == '"2"'
    changed = patched.json()
    assert changed["version"] == 2
    assert changed["status"] == "accepted"
    assert changed["authorized_sessions"] is None
    assert changed["reason"] == "Back pain"
    assert changed["diagnosis_codes"] == body["diagnosis_codes"]

    gone = await client.delete(f"/v1/referrals/{rid}", headers=admin)
    assert gone.status_code == 204
    assert gone.content == b""
    assert (await client.get(f"/v1/referrals/{rid}", headers=admin)).status_code == 404
    archived = await client.get(f"/v1/referrals/{rid}?include_archived=true", headers=admin)
    assert archived.status_code == 200
    assert archived.json()["archived_at"] is not None
    assert (await client.delete(f"/v1/referrals/{rid}", headers=admin)).status_code == 404
    stale_patch = await client.patch(
        f"/v1/referrals/{rid}", json={"reason": "x"}, headers={**admin, "If-Match": '"2"'}
    )
    assert stale_patch.status_code == 404


async def test_defaults_of_a_minimal_referral(
    client: httpx.AsyncClient, staff: Staff, client_id: str
) -> None:
    response = await client.post(
        "/v1/referrals",
        json={
            "client_id": client_id,
            "referring_professional_id": str(staff.referring_professional_id),
        },
        headers=staff.headers("therapist"),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "pending"
    assert body["diagnosis_codes"] == []
    received = dt.date.fromisoformat(body["received_on"])
    assert abs((received - dt.datetime.now(dt.UTC).date()).days) <= 1
    for field in ("reason", "diagnosis_text", "authorized_sessions", "valid_until"):
        assert body[field] is None


async def test_created_with_another_status(
    client: httpx.AsyncClient, staff: Staff, client_id: str
) -> None:
    body = await new_referral(
        client,
        staff.headers("therapist"),
        client_id,
        str(staff.referring_professional_id),
        status="accepted",
    )
    assert body["status"] == "accepted"


async def test_unknown_referral_is_404(client: httpx.AsyncClient, staff: Staff) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    response = await client.get(f"/v1/referrals/{missing}", headers=staff.headers("admin"))
    assert response.status_code == 404
    assert response.json()["type"] == "/problems/not-found"
    bad_id = await client.get("/v1/referrals/not-a-uuid", headers=staff.headers("admin"))
    assert bad_id.status_code == 422


# ---- lists -----------------------------------------------------------------------------------


async def test_filters(client: httpx.AsyncClient, staff: Staff, client_id: str) -> None:
    admin = staff.headers("admin")
    own_rp = str(staff.referring_professional_id)
    other_rp = await new_referring_professional(client, admin, full_name="Dr. Other")
    other_client = await new_client(client, admin, given_name="Kim")
    first = (await new_referral(client, admin, client_id, own_rp))["id"]
    second = (await new_referral(client, admin, client_id, other_rp, status="accepted"))["id"]
    third = (await new_referral(client, admin, other_client, own_rp, status="declined"))["id"]
    archived = (await new_referral(client, admin, other_client, other_rp))["id"]
    assert (await client.delete(f"/v1/referrals/{archived}", headers=admin)).status_code == 204

    assert await _ids(client, "", admin) == [first, second, third]
    assert await _ids(client, f"client_id={client_id}", admin) == [first, second]
    assert await _ids(client, f"client_id={other_client}", admin) == [third]
    assert await _ids(client, f"referring_professional_id={own_rp}", admin) == [first, third]
    assert await _ids(client, f"referring_professional_id={other_rp}", admin) == [second]
    assert await _ids(client, "status=accepted", admin) == [second]
    assert await _ids(client, "status=pending", admin) == [first]
    assert await _ids(client, f"status=declined&client_id={other_client}", admin) == [third]
    assert await _ids(client, "include_archived=true", admin) == [first, second, third, archived]
    assert await _ids(
        client, f"include_archived=true&referring_professional_id={other_rp}", admin
    ) == [second, archived]
    bad = await client.get("/v1/referrals?status=lost", headers=admin)
    assert problem_locs(bad) == [["query", "status"]]


async def test_updated_since(client: httpx.AsyncClient, staff: Staff, client_id: str) -> None:
    admin = staff.headers("admin")
    rp = str(staff.referring_professional_id)
    old = (await new_referral(client, admin, client_id, rp))["id"]
    await asyncio.sleep(0.01)
    mark = dt.datetime.now(dt.UTC)
    await asyncio.sleep(0.01)
    new = (await new_referral(client, admin, client_id, rp))["id"]
    since = mark.isoformat().replace("+00:00", "Z")
    assert await _ids(client, f"updated_since={since}", admin) == [new]
    touched = await client.patch(
        f"/v1/referrals/{old}", json={"reason": "Updated"}, headers={**admin, "If-Match": '"1"'}
    )
    assert touched.status_code == 200
    assert await _ids(client, f"updated_since={since}", admin) == [old, new]
    naive = await client.get("/v1/referrals?updated_since=2026-01-01T00:00:00", headers=admin)
    assert problem_locs(naive) == [["query", "updated_since"]]


async def test_pagination_walk(client: httpx.AsyncClient, staff: Staff, client_id: str) -> None:
    admin = staff.headers("admin")
    rp = str(staff.referring_professional_id)
    made = [(await new_referral(client, admin, client_id, rp))["id"] for _ in range(5)]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(f"/v1/referrals?{query}", headers=admin)).json()
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        pages += 1
        if pages == 1:
            # a row added during the walk does not disturb it
            made.append((await new_referral(client, admin, client_id, rp))["id"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made
    assert pages == 3
    assert problem_locs(await client.get("/v1/referrals?cursor=garbage", headers=admin)) == [
        ["query", "cursor"]
    ]
    assert problem_locs(await client.get("/v1/referrals?limit=201", headers=admin)) == [
        ["query", "limit"]
    ]


# ---- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("M54.5", "M54.5"),
        ("m54.5", "M54.5"),
        (" s83.2 ", "S83.2"),
        ("M545", "M54.5"),
        ("C4A.0", "C4A.0"),
        ("S72.001A", "S72.001A"),
        ("U07.1", "U07.1"),
        ("J45", "J45"),
    ],
)
def test_icd10_normalization(raw: str, normalized: str) -> None:
    assert normalize_icd10(raw) == normalized


@pytest.mark.parametrize(
    "bad", ["", "54.5", "MM4.5", "M5", "M54.", "M54.12345", "M54-5", "M5C.1", "M54.U", "ICD M54"]
)
def test_icd10_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match="ICD-10"):
        normalize_icd10(bad)


async def test_diagnosis_codes_must_be_icd10(
    client: httpx.AsyncClient, staff: Staff, client_id: str
) -> None:
    admin = staff.headers("admin")
    rp = str(staff.referring_professional_id)
    body = referral(client_id, rp, diagnosis_codes=["M54.5", "back pain", "Z99.89"])
    response = await client.post("/v1/referrals", json=body, headers=admin)
    assert problem_locs(response) == [["body", "diagnosis_codes", 1]]
    too_many = referral(client_id, rp, diagnosis_codes=["M54.5"] * 21)
    assert problem_locs(await client.post("/v1/referrals", json=too_many, headers=admin)) == [
        ["body", "diagnosis_codes"]
    ]
    made = await new_referral(client, admin, client_id, rp)
    patched = await client.patch(
        f"/v1/referrals/{made['id']}",
        json={"diagnosis_codes": ["G44.2", "12"]},
        headers={**admin, "If-Match": '"1"'},
    )
    assert problem_locs(patched) == [["body", "diagnosis_codes", 1]]
    fixed = await client.patch(
        f"/v1/referrals/{made['id']}",
        json={"diagnosis_codes": ["g442"]},
        headers={**admin, "If-Match": '"1"'},
    )
    assert fixed.json()["diagnosis_codes"] == ["G44.2"]


async def test_client_and_professional_must_exist(
    client: httpx.AsyncClient, staff: Staff, client_id: str
) -> None:
    admin = staff.headers("admin")
    rp = str(staff.referring_professional_id)
    missing = "00000000-0000-4000-8000-000000000000"
    no_client = await client.post("/v1/referrals", json=referral(missing, rp), headers=admin)
    assert problem_locs(no_client) == [["body", "client_id"]]
    no_rp = await client.post("/v1/referrals", json=referral(client_id, missing), headers=admin)
    assert problem_locs(no_rp) == [["body", "referring_professional_id"]]
    without_rp = {
        k: v for k, v in referral(client_id, rp).items() if k != "referring_professional_id"
    }
    response = await client.post("/v1/referrals", json=without_rp, headers=admin)
    assert problem_locs(response) == [["body", "referring_professional_id"]]

    archived_client = await new_client(client, admin, given_name="Gone")
    assert (await client.delete(f"/v1/clients/{archived_client}", headers=admin)).status_code == 204
    response = await client.post("/v1/referrals", json=referral(archived_client, rp), headers=admin)
    assert problem_locs(response) == [["body", "client_id"]]

    made = await new_referral(client, admin, client_id, rp)
    moved = await client.patch(
        f"/v1/referrals/{made['id']}",
        json={"referring_professional_id": missing},
        headers={**admin, "If-Match": '"1"'},
    )
    assert problem_locs(moved) == [["body", "referring_professional_id"]]
    other_rp = await new_referring_professional(client, admin, full_name="Dr. Second")
    moved = await client.patch(
        f"/v1/referrals/{made['id']}",
        json={"referring_professional_id": other_rp},
        headers={**admin, "If-Match": '"1"'},
    )
    assert moved.status_code == 200
    assert moved.json()["referring_professional_id"] == other_rp


@pytest.mark.parametrize(
    ("overrides", "loc"),
    [
        ({"authorized_sessions": 0}, ["body", "authorized_sessions"]),
        ({"authorized_sessions": "many"}, ["body", "authorized_sessions"]),
        ({"status": "lost"}, ["body", "status"]),
        ({"received_on": "02/03/2026"}, ["body", "received_on"]),
        ({"reason": "x" * 10_001}, ["body", "reason"]),
        ({"diagnosis_codes": "M54.5"}, ["body", "diagnosis_codes"]),
        ({"id": "00000000-0000-4000-8000-000000000000"}, ["body", "id"]),
        ({"version": 3}, ["body", "version"]),
        ({"created_at": "2026-01-01T00:00:00Z"}, ["body", "created_at"]),
        ({"client_id": "nope"}, ["body", "client_id"]),
        ({"valid_until": "2026-03-01"}, ["body", "valid_until"]),
    ],
)
async def test_create_rejects(
    client: httpx.AsyncClient,
    staff: Staff,
    client_id: str,
    overrides: dict[str, Any],
    loc: list[str],
) -> None:
    body = {**referral(client_id, str(staff.referring_professional_id)), **overrides}
    response = await client.post("/v1/referrals", json=body, headers=staff.headers("admin"))
    assert problem_locs(response) == [loc]


@pytest.mark.parametrize(
    ("patch", "loc"),
    [
        ({"client_id": "00000000-0000-4000-8000-000000000000"}, ["body", "client_id"]),
        ({"status": None}, ["body"]),
        ({"received_on": None}, ["body"]),
        ({"diagnosis_codes": None}, ["body"]),
        ({"status": "lost"}, ["body", "status"]),
        ({"version": 7}, ["body", "version"]),
        ({"valid_until": "2026-01-01"}, ["body", "valid_until"]),
        ({"received_on": "2026-10-01"}, ["body", "received_on"]),
        ({"authorized_sessions": -2}, ["body", "authorized_sessions"]),
    ],
)
async def test_patch_rejects(
    client: httpx.AsyncClient,
    staff: Staff,
    client_id: str,
    patch: dict[str, Any],
    loc: list[str],
) -> None:
    admin = staff.headers("admin")
    made = await new_referral(client, admin, client_id, str(staff.referring_professional_id))
    response = await client.patch(
        f"/v1/referrals/{made['id']}", json=patch, headers={**admin, "If-Match": '"1"'}
    )
    assert problem_locs(response) == [loc]
    after = await client.get(f"/v1/referrals/{made['id']}", headers=admin)
    assert after.json()["version"] == 1


async def test_if_match(client: httpx.AsyncClient, staff: Staff, client_id: str) -> None:
    admin = staff.headers("admin")
    made = await new_referral(client, admin, client_id, str(staff.referring_professional_id))
    url = f"/v1/referrals/{made['id']}"
    missing = await client.patch(url, json={"reason": "a"}, headers=admin)
    assert missing.status_code == 428
    assert missing.json()["type"] == "/problems/precondition-required"
    stale = await client.patch(url, json={"reason": "a"}, headers={**admin, "If-Match": '"2"'})
    assert stale.status_code == 412
    assert stale.json()["type"] == "/problems/precondition-failed"
    ok = await client.patch(url, json={"reason": "a"}, headers={**admin, "If-Match": '"1"'})
    assert ok.status_code == 200
    again = await client.patch(url, json={"reason": "b"}, headers={**admin, "If-Match": '"1"'})
    assert again.status_code == 412
    assert (await client.get(url, headers=admin)).json()["reason"] == "a"


# ---- status moves ----------------------------------------------------------------------------


def test_machine_table() -> None:
    for current, target in itertools.product(STATUSES, STATUSES):
        expected = current == target or (current, target) in ALLOWED_MOVES
        assert REFERRAL_STATUS.allows(current, target) is expected, (current, target)


@pytest.mark.parametrize(("current", "target"), list(itertools.product(STATUSES, STATUSES)))
async def test_status_moves(
    client: httpx.AsyncClient, staff: Staff, client_id: str, current: str, target: str
) -> None:
    admin = staff.headers("admin")
    made = await new_referral(
        client, admin, client_id, str(staff.referring_professional_id), status=current
    )
    response = await client.patch(
        f"/v1/referrals/{made['id']}", json={"status": target}, headers={**admin, "If-Match": '"1"'}
    )
    if current == target or (current, target) in ALLOWED_MOVES:
        assert response.status_code == 200, response.text
        assert response.json()["status"] == target
    else:
        assert response.status_code == 409, response.text
        problem = response.json()
        assert problem["type"] == "/problems/invalid-transition"
        assert problem["current_status"] == current
        fetched = await client.get(f"/v1/referrals/{made['id']}", headers=admin)
        assert fetched.json()["status"] == current
        assert fetched.json()["version"] == 1


# ---- roles -----------------------------------------------------------------------------------


async def test_referrer_creates_for_itself_only(
    client: httpx.AsyncClient, staff: Staff, client_id: str
) -> None:
    admin = staff.headers("admin")
    referrer = staff.headers("referrer")
    own = str(staff.referring_professional_id)
    other_rp = await new_referring_professional(client, admin, full_name="Dr. Someone Else")
    patient = {"given_name": "Ola", "family_name": "Nowak", "date_of_birth": "1980-04-02"}

    def by_referrer(rp_id: str | None, **overrides: Any) -> dict[str, Any]:
        body = {k: v for k, v in referral(client_id, other_rp).items() if k != "client_id"}
        body.pop("referring_professional_id")
        if rp_id is not None:
            body["referring_professional_id"] = rp_id
        return {**body, "patient": patient, **overrides}

    forced = await client.post("/v1/referrals", json=by_referrer(other_rp), headers=referrer)
    assert forced.status_code == 201, forced.text
    assert forced.json()["referring_professional_id"] == own

    implicit = await client.post("/v1/referrals", json=by_referrer(None), headers=referrer)
    assert implicit.status_code == 201
    assert implicit.json()["referring_professional_id"] == own
    assert implicit.json()["status"] == "pending"
    assert implicit.json()["client_id"] is None

    accepted = await client.post(
        "/v1/referrals", json=by_referrer(own, status="accepted"), headers=referrer
    )
    assert problem_locs(accepted) == [["body", "status"]]


async def test_referrer_sees_only_its_own(
    client: httpx.AsyncClient, staff: Staff, client_id: str
) -> None:
    admin = staff.headers("admin")
    referrer = staff.headers("referrer")
    own_rp = str(staff.referring_professional_id)
    other_rp = await new_referring_professional(client, admin, full_name="Dr. Someone Else")
    mine = (await new_referral(client, admin, client_id, own_rp))["id"]
    theirs = (await new_referral(client, admin, client_id, other_rp))["id"]

    assert await _ids(client, "", referrer) == [mine]
    assert await _ids(client, f"referring_professional_id={other_rp}", referrer) == [mine]
    assert await _ids(client, f"client_id={client_id}", referrer) == [mine]
    assert await _ids(client, "", admin) == [mine, theirs]

    own = await client.get(f"/v1/referrals/{mine}", headers=referrer)
    assert own.status_code == 200
    assert own.json()["diagnosis_codes"] == ["M54.5"]

    hidden = await client.get(f"/v1/referrals/{theirs}", headers=referrer)
    missing = await client.get(
        "/v1/referrals/00000000-0000-4000-8000-000000000000", headers=referrer
    )
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"] == missing.json()["detail"]
    assert hidden.json()["type"] == "/problems/not-found"

    events = await client.get("/v1/audit-events?action=denied&limit=200", headers=admin)
    assert events.status_code == 200, events.text
    denied = [
        e for e in events.json()["items"] if e["actor_id"] == str(staff.key_ids[Role.referrer])
    ]
    assert [e["role"] for e in denied] == ["referrer"]


async def test_referrer_may_not_change_or_archive(
    client: httpx.AsyncClient, staff: Staff, client_id: str
) -> None:
    admin = staff.headers("admin")
    referrer = staff.headers("referrer")
    mine = (await new_referral(client, admin, client_id, str(staff.referring_professional_id)))[
        "id"
    ]
    patched = await client.patch(
        f"/v1/referrals/{mine}",
        json={"status": "cancelled"},
        headers={**referrer, "If-Match": '"1"'},
    )
    assert patched.status_code == 403
    assert patched.json()["type"] == "/problems/forbidden"
    assert (
        await client.patch(f"/v1/referrals/{mine}", json={"status": "x"}, headers=referrer)
    ).status_code == 403
    assert (await client.delete(f"/v1/referrals/{mine}", headers=referrer)).status_code == 403
    after = await client.get(f"/v1/referrals/{mine}", headers=admin)
    assert after.json()["version"] == 1
    assert after.json()["archived_at"] is None


async def test_front_desk_does_not_see_clinical_fields(
    client: httpx.AsyncClient, staff: Staff, client_id: str
) -> None:
    desk = staff.headers("front_desk")
    rp = str(staff.referring_professional_id)
    clinical = {"diagnosis_codes", "diagnosis_text", "precautions_note"}
    full = referral(client_id, rp)
    # the front desk records the referral's administrative part, a clinician the rest
    desk_body = {k: v for k, v in full.items() if k not in clinical}
    created = await client.post("/v1/referrals", json=desk_body, headers=desk)
    assert created.status_code == 201, created.text
    assert not clinical & created.json().keys()
    rid = created.json()["id"]
    completed = await client.patch(
        f"/v1/referrals/{rid}",
        json={k: full[k] for k in clinical},
        headers={**staff.headers("therapist"), "If-Match": '"1"'},
    )
    assert completed.status_code == 200, completed.text
    one = await client.get(f"/v1/referrals/{rid}", headers=desk)
    assert not clinical & one.json().keys()
    assert one.json()["reason"] == full["reason"]
    listed = (await client.get("/v1/referrals", headers=desk)).json()["items"]
    assert listed
    assert all(not clinical & item.keys() for item in listed)
    patched = await client.patch(
        f"/v1/referrals/{rid}", json={"status": "accepted"}, headers={**desk, "If-Match": '"2"'}
    )
    assert patched.status_code == 200
    assert not clinical & patched.json().keys()
    therapist = await client.get(f"/v1/referrals/{rid}", headers=staff.headers("therapist"))
    assert clinical <= therapist.json().keys()
    assert therapist.json()["precautions_note"] == full["precautions_note"]


async def test_without_a_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/referrals")).status_code == 401
    assert (await client.post("/v1/referrals", json={})).status_code == 401


# ---- audit -----------------------------------------------------------------------------------


async def test_every_access_is_audited_with_the_client(
    client: httpx.AsyncClient, staff: Staff, client_id: str
) -> None:
    admin = staff.headers("admin")
    therapist = staff.headers("therapist")
    rid = (await new_referral(client, therapist, client_id, str(staff.referring_professional_id)))[
        "id"
    ]
    await client.get(f"/v1/referrals/{rid}", headers=therapist)
    await client.get("/v1/referrals", headers=therapist)
    await client.patch(
        f"/v1/referrals/{rid}", json={"reason": "x"}, headers={**therapist, "If-Match": '"1"'}
    )
    await client.delete(f"/v1/referrals/{rid}", headers=therapist)
    events = (
        await client.get(f"/v1/audit-events?client_id={client_id}&limit=200", headers=admin)
    ).json()["items"]
    referral_events = [e for e in events if e["resource_type"] == "referral"]
    assert [e["action"] for e in referral_events] == ["create", "read", "read", "update", "delete"]
    assert {e["resource_id"] for e in referral_events} == {rid}
    assert {e["client_id"] for e in referral_events} == {client_id}
    assert {e["actor_id"] for e in referral_events} == {str(staff.key_ids[Role.therapist])}


@pytest.mark.parametrize("field", ["diagnosis_codes", "diagnosis_text", "precautions_note"])
async def test_front_desk_may_not_write_what_it_may_not_see(
    client: httpx.AsyncClient, staff: Staff, client_id: str, field: str
) -> None:
    desk = staff.headers("front_desk")
    rp = str(staff.referring_professional_id)
    full = referral(client_id, rp)
    clinical = {"diagnosis_codes", "diagnosis_text", "precautions_note"}
    body = {k: v for k, v in full.items() if k not in clinical}

    refused = await client.post("/v1/referrals", json={**body, field: full[field]}, headers=desk)
    problem = assert_problem(refused, 403, "forbidden")
    assert field in problem["detail"]
    # even an empty value is a write
    empty: Any = [] if field == "diagnosis_codes" else None
    assert_problem(
        await client.post("/v1/referrals", json={**body, field: empty}, headers=desk),
        403,
        "forbidden",
    )
    admin_list = await client.get("/v1/referrals", headers=staff.headers("admin"))
    assert admin_list.json()["items"] == []

    made = await client.post("/v1/referrals", json=body, headers=desk)
    assert made.status_code == 201, made.text
    rid = made.json()["id"]
    patched = await client.patch(
        f"/v1/referrals/{rid}", json={field: full[field]}, headers={**desk, "If-Match": '"1"'}
    )
    assert_problem(patched, 403, "forbidden")
    after = await client.get(f"/v1/referrals/{rid}", headers=staff.headers("admin"))
    assert after.json()["version"] == 1
    # the same write by a therapist is fine
    allowed = await client.patch(
        f"/v1/referrals/{rid}",
        json={field: full[field]},
        headers={**staff.headers("therapist"), "If-Match": '"1"'},
    )
    assert allowed.status_code == 200, allowed.text
