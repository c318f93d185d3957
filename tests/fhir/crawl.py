"""Collects every resource and Bundle the facade serves to one caller, the way a FHIR client
would: the CapabilityStatement, every page of every search, and every reference followed.

With `CAREPLAN_FHIR_DUMP=<folder>` in the environment, each document collected is also written
there (one JSON file each), for validators outside Python (`scripts/validate_fhir_medplum.mjs`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.fhir.validation import validate

BASE = "/fhir/R4"
SEARCHES = ("CarePlan", "Encounter", "Observation")
# FHIR `string`: no control characters but tab, CR and LF, and not white space alone
BAD_STRING = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def strings_of(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [text for item in value.values() for text in strings_of(item)]
    if isinstance(value, list):
        return [text for item in value for text in strings_of(item)]
    return [value] if isinstance(value, str) else []


def references_of(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {value["reference"]} if isinstance(value.get("reference"), str) else set()
        for item in value.values():
            found |= references_of(item)
        return found
    if isinstance(value, list):
        return {ref for item in value for ref in references_of(item)}
    return set()


class Crawl:
    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str], label: str) -> None:
        self.client = client
        self.headers = headers
        self.label = label
        self.bundles: list[dict[str, Any]] = []
        self.resources: dict[str, dict[str, Any]] = {}  # by "Type/id"
        self.statement: dict[str, Any] | None = None

    async def get(self, url: str) -> dict[str, Any]:
        response = await self.client.get(url, headers=self.headers)
        assert response.status_code == 200, (url, response.text)
        assert response.headers["content-type"] == "application/fhir+json"
        document: dict[str, Any] = response.json()
        self.check(document)
        return document

    def check(self, document: dict[str, Any]) -> None:
        validate(document)
        for text in strings_of(document):
            assert text.strip(), f"white-space string in {document['resourceType']}"
            assert not BAD_STRING.search(text), f"control character in {text!r}"

    def keep(self, resource: dict[str, Any]) -> None:
        key = f"{resource['resourceType']}/{resource['id']}"
        self.resources[key] = resource

    async def search(self, query: str) -> list[str]:
        """Every page of a search; the keys of what it found."""
        url: str | None = f"{BASE}/{query}"
        found: list[str] = []
        while url is not None:
            bundle = await self.get(url)
            self.bundles.append(bundle)
            for entry in bundle.get("entry", []):
                self.keep(entry["resource"])
                found.append(f"{entry['resource']['resourceType']}/{entry['resource']['id']}")
            url = {link["relation"]: link["url"] for link in bundle["link"]}.get("next")
        return found

    async def run(self) -> Crawl:
        self.statement = await self.get(f"{BASE}/metadata")
        patients = await self.search("Patient?_count=2")
        for patient in patients:
            for resource_type in SEARCHES:
                await self.search(f"{resource_type}?patient={patient}&_count=2")
        # follow every reference: each must answer (nothing points at what the caller
        # cannot read, archived records included)
        pending = set().union(*(references_of(r) for r in self.resources.values())) - set(
            self.resources
        )
        while pending:
            key = pending.pop()
            resource = await self.get(f"{BASE}/{key}")
            self.keep(resource)
            pending |= references_of(resource) - set(self.resources)
        # reading a resource answers what the search did
        for key, resource in list(self.resources.items()):
            read = await self.get(f"{BASE}/{key}")
            assert read == resource, key
        self.dump()
        return self

    @property
    def documents(self) -> list[dict[str, Any]]:
        statement = [self.statement] if self.statement is not None else []
        return [*statement, *self.bundles, *self.resources.values()]

    def dump(self) -> None:
        folder = os.environ.get("CAREPLAN_FHIR_DUMP")
        if not folder:
            return
        target = Path(folder)
        target.mkdir(parents=True, exist_ok=True)
        for number, document in enumerate(self.documents):
            name = f"{self.label}-{number:04d}-{document['resourceType']}.json"
            (target / name).write_bytes(orjson.dumps(document))
