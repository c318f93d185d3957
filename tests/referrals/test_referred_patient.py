"""A referrer names the patient, never a client id; its referral is pending, linked to no
client and opens no data until the clinic links a client and accepts it."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.care_plans.factories import care_plan
from tests.conftest import Staff
from tests.core.problems import assert_problem, error_locs
from tests.referrals.factories import new_referral

PATIENT = {
    "given_name": "Ola",
    "family_name": "Nowak",
    "date_of_birth": "1980-04-02",
    "phone": "+48 555 0100",
    "email": "ola@example.org",
}


def by_referrer(**overrides: Any) -> dict[str, Any]:
    return {
        "received_on": "2026-03-02",
        "reason": "Neck pain after a car accident",
        "diagnosis_codes": ["S13.4"],
        "patient": PATIENT,
        **overrides,
    }


async def referrals_seen_by_admin(client: httpx.AsyncClient, staff: Staff) -> list[Any]:
    items: list[Any] = (await client.get("/v1/referrals", headers=staff.headers("admin"))).json()[
        "items"
    ]
    return items


async def file_as_referrer(client: httpx.AsyncClient, staff: Staff) -> dict[str, Any]:
    response = await client.post(
        "/v1/referrals", json=by_referrer(), headers=staff.headers("referrer")
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_referrer_names_the_patient(client: httpx.AsyncClient, staff: Staff) -> None:
    created = await file_as_referrer(client, staff)
    assert created["status"] == "pending"
    assert created["client_id"] is None
    assert created["patient"] == PATIENT
    assert created["referring_professional_id"] == str(staff.referring_professional_id)
    listed = await client.get("/v1/referrals", headers=staff.headers("referrer"))
    assert [r["id"] for r in listed.json()["items"]] == [created["id"]]
    # the front desk, which links patients to clients, sees who the patient is
    desk = await client.get(f"/v1/referrals/{created['id']}", headers=staff.headers("front_desk"))
    assert desk.json()["patient"] == PATIENT


async def test_a_referrer_sending_a_client_id_learns_nothing(
    client: httpx.AsyncClient, staff: Staff, client_id: str
) -> None:
    referrer = staff.headers("referrer")
    answers = []
    for candidate in (client_id, str(uuid.uuid4())):
        for body in (by_referrer(client_id=candidate), {**by_referrer(), "client_id": candidate}):
            response = await client.post("/v1/referrals", json=body, headers=referrer)
            problem = assert_problem(response, 422, "validation-error")
            assert error_locs(problem) == [["body", "client_id"]]
            answers.append(problem)
        without_patient = by_referrer(client_id=candidate)
        without_patient.pop("patient")
        response = await client.post("/v1/referrals", json=without_patient, headers=referrer)
        answers.append(assert_problem(response, 422, "validation-error"))
    existing, unknown = answers[:3], answers[3:]
    assert existing == unknown
    assert await referrals_seen_by_admin(client, staff) == []


async def test_a_referrer_must_name_the_patient(client: httpx.AsyncClient, staff: Staff) -> None:
    body = by_referrer()
    body.pop("patient")
    response = await client.post("/v1/referrals", json=body, headers=staff.headers("referrer"))
    assert error_locs(assert_problem(response, 422, "validation-error")) == [["body", "patient"]]


@pytest.mark.parametrize(
    ("patient", "loc"),
    [
        ({**PATIENT, "date_of_birth": "2199-01-01"}, ["body", "patient"]),
        ({**PATIENT, "date_of_birth": "1899-12-31"}, ["body", "patient", "date_of_birth"]),
        ({**PATIENT, "date_of_birth": "2999-01-01"}, ["body", "patient", "date_of_birth"]),
        (
            {k: v for k, v in PATIENT.items() if k != "family_name"},
            ["body", "patient", "family_name"],
        ),
        ({**PATIENT, "given_name": "   "}, ["body", "patient", "given_name"]),
        ({**PATIENT, "client_id": "x"}, ["body", "patient", "client_id"]),
        ({**PATIENT, "email": "not-an-email"}, ["body", "patient", "email"]),
    ],
    ids=[
        "born-later",
        "born-before-1900",
        "born-after-2200",
        "no-family-name",
        "blank-name",
        "extra",
        "bad-email",
    ],
)
async def test_the_named_patient_is_validated(
    client: httpx.AsyncClient, staff: Staff, patient: dict[str, Any], loc: list[str]
) -> None:
    response = await client.post(
        "/v1/referrals", json=by_referrer(patient=patient), headers=staff.headers("referrer")
    )
    assert loc in error_locs(assert_problem(response, 422, "validation-error"))
    assert await referrals_seen_by_admin(client, staff) == []


async def test_a_born_1900_patient_is_accepted(client: httpx.AsyncClient, staff: Staff) -> None:
    response = await client.post(
        "/v1/referrals",
        json=by_referrer(patient={**PATIENT, "date_of_birth": "1900-01-01"}),
        headers=staff.headers("referrer"),
    )
    assert response.status_code == 201, response.text


async def test_staff_may_name_either(
    client: httpx.AsyncClient, staff: Staff, client_id: str
) -> None:
    admin = staff.headers("admin")
    rp = str(staff.referring_professional_id)
    named = await client.post(
        "/v1/referrals", json=by_referrer(referring_professional_id=rp), headers=admin
    )
    assert named.status_code == 201, named.text
    assert named.json()["client_id"] is None
    linked = await client.post(
        "/v1/referrals",
        json=by_referrer(referring_professional_id=rp, client_id=client_id),
        headers=admin,
    )
    assert linked.status_code == 201, linked.text
    assert linked.json()["client_id"] == client_id
    neither = by_referrer(referring_professional_id=rp)
    neither.pop("patient")
    refused = await client.post("/v1/referrals", json=neither, headers=admin)
    assert error_locs(assert_problem(refused, 422, "validation-error")) == [["body", "client_id"]]
    # an accepted referral is always linked to a client
    unlinked_accepted = await client.post(
        "/v1/referrals",
        json=by_referrer(referring_professional_id=rp, status="accepted"),
        headers=admin,
    )
    assert error_locs(assert_problem(unlinked_accepted, 422, "validation-error")) == [
        ["body", "status"]
    ]


async def share(client: httpx.AsyncClient, staff: Staff, client_id: str) -> None:
    consent = await client.post(
        f"/v1/clients/{client_id}/consents",
        json={
            "kind": "share_with_referrer",
            "referring_professional_id": str(staff.referring_professional_id),
            "granted_on": "2026-01-01",
        },
        headers=staff.headers("admin"),
    )
    assert consent.status_code == 201, consent.text


async def test_nothing_opens_until_the_clinic_links_and_accepts(
    client: httpx.AsyncClient, staff: Staff, client_id: str
) -> None:
    await share(client, staff, client_id)
    referral = await file_as_referrer(client, staff)
    rid = referral["id"]
    referrer, admin = staff.headers("referrer"), staff.headers("admin")

    async def opened() -> list[int]:
        return [
            (await client.get(f"/v1/referrals/{rid}/summary", headers=referrer)).status_code,
            (await client.get(f"/fhir/R4/ServiceRequest/{rid}", headers=referrer)).status_code,
        ]

    assert await opened() == [404, 404]
    # for the clinic, a referral without a client has no summary and no FHIR view yet
    assert_problem(await client.get(f"/v1/referrals/{rid}/summary", headers=admin), 409, "conflict")
    assert (await client.get(f"/fhir/R4/ServiceRequest/{rid}", headers=admin)).status_code == 404

    # accepting without a client is refused, and so is an unknown client
    no_client = await client.patch(
        f"/v1/referrals/{rid}", json={"status": "accepted"}, headers={**admin, "If-Match": '"1"'}
    )
    assert error_locs(assert_problem(no_client, 422, "validation-error")) == [["body", "client_id"]]
    unknown = await client.patch(
        f"/v1/referrals/{rid}",
        json={"client_id": str(uuid.uuid4()), "status": "accepted"},
        headers={**admin, "If-Match": '"1"'},
    )
    assert error_locs(assert_problem(unknown, 422, "validation-error")) == [["body", "client_id"]]

    # linked but still pending: still closed to the referrer
    linked = await client.patch(
        f"/v1/referrals/{rid}", json={"client_id": client_id}, headers={**admin, "If-Match": '"1"'}
    )
    assert linked.status_code == 200, linked.text
    assert linked.json()["client_id"] == client_id
    assert linked.json()["patient"] == PATIENT
    assert await opened() == [404, 404]

    accepted = await client.patch(
        f"/v1/referrals/{rid}", json={"status": "accepted"}, headers={**admin, "If-Match": '"2"'}
    )
    assert accepted.status_code == 200, accepted.text
    assert await opened() == [200, 200]
    summary = await client.get(f"/v1/referrals/{rid}/summary", headers=referrer)
    assert summary.status_code == 200, summary.text
    assert summary.json()["client"]["id"] == client_id

    # once linked, the client never changes
    other_client = (
        await client.post(
            "/v1/clients",
            json={"given_name": "Other", "family_name": "Person", "date_of_birth": "1990-01-01"},
            headers=admin,
        )
    ).json()["id"]
    moved = await client.patch(
        f"/v1/referrals/{rid}",
        json={"client_id": other_client},
        headers={**admin, "If-Match": '"3"'},
    )
    assert error_locs(assert_problem(moved, 422, "validation-error")) == [["body", "client_id"]]


async def test_link_and_accept_in_one_patch(
    client: httpx.AsyncClient, staff: Staff, client_id: str
) -> None:
    rid = (await file_as_referrer(client, staff))["id"]
    response = await client.patch(
        f"/v1/referrals/{rid}",
        json={"client_id": client_id, "status": "accepted"},
        headers={**staff.headers("front_desk"), "If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text
    assert (response.json()["client_id"], response.json()["status"]) == (client_id, "accepted")


async def test_a_pending_referral_with_a_client_opens_no_summary_to_its_referrer(
    client: httpx.AsyncClient, staff: Staff, client_id: str
) -> None:
    await share(client, staff, client_id)
    rp = str(staff.referring_professional_id)
    pending = await new_referral(client, staff.headers("admin"), client_id, rp)
    url = f"/v1/referrals/{pending['id']}/summary"
    assert (await client.get(url, headers=staff.headers("referrer"))).status_code == 404
    assert (await client.get(url, headers=staff.headers("admin"))).status_code == 200


async def test_an_unlinked_referral_breaks_nothing_of_the_client(
    client: httpx.AsyncClient, staff: Staff, client_id: str
) -> None:
    """Care plans, client lists, the export and the referral list filter live with a referral
    whose client_id is null."""
    admin, therapist = staff.headers("admin"), staff.headers("therapist")
    unlinked = (await file_as_referrer(client, staff))["id"]
    plan = await client.post(
        "/v1/care-plans", json=care_plan(client_id, referral_ids=[unlinked]), headers=therapist
    )
    assert error_locs(assert_problem(plan, 422, "validation-error")) == [
        ["body", "referral_ids", 0]
    ]
    fine = await client.post("/v1/care-plans", json=care_plan(client_id), headers=therapist)
    assert fine.status_code == 201, fine.text
    export = await client.get(f"/v1/clients/{client_id}/export", headers=admin)
    assert export.status_code == 200, export.text
    assert export.json()["referrals"] == []
    filtered = await client.get(f"/v1/referrals?client_id={client_id}", headers=admin)
    assert filtered.json()["items"] == []
    everything = await client.get("/v1/referrals", headers=admin)
    assert [r["id"] for r in everything.json()["items"]] == [unlinked]
