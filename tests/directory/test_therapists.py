from __future__ import annotations

import httpx

from tests import factories
from tests.conftest import Staff


async def test_create_get_patch_archive_therapist(client: httpx.AsyncClient, staff: Staff) -> None:
    admin = staff.headers("admin")
    created = await client.post("/v1/therapists", json=factories.therapist(), headers=admin)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["version"] == 1
    assert created.headers["etag"] == '"1"'
    tid = body["id"]

    fetched = await client.get(f"/v1/therapists/{tid}", headers=admin)
    assert fetched.status_code == 200
    assert fetched.json()["full_name"] == "Jo Effleurage"

    patched = await client.patch(
        f"/v1/therapists/{tid}",
        json={"phone": "+1 555 0199", "email": None},
        headers={**admin, "If-Match": '"1"'},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["version"] == 2
    assert patched.json()["email"] is None
    assert patched.json()["full_name"] == "Jo Effleurage"

    gone = await client.delete(f"/v1/therapists/{tid}", headers=admin)
    assert gone.status_code == 204
    assert (await client.get(f"/v1/therapists/{tid}", headers=admin)).status_code == 404
    archived = await client.get(f"/v1/therapists/{tid}?include_archived=true", headers=admin)
    assert archived.status_code == 200
