"""Request bodies for the API, with sensible defaults a test can override."""

from __future__ import annotations

from typing import Any


def therapist(**overrides: Any) -> dict[str, Any]:
    return {
        "full_name": "Jo Effleurage",
        "email": "jo@clinic.example",
        "license_number": "MT-12345",
        "license_region": "ON",
        "license_expires_on": "2030-12-31",
        "credentials": ["RMT"],
        "certifications": ["prenatal"],
        **overrides,
    }


def referring_professional(**overrides: Any) -> dict[str, Any]:
    return {
        "full_name": "Dr. Lee Physio",
        "discipline": "physical_therapy",
        "organization": "Riverside Physio",
        "email": "lee@physio.example",
        **overrides,
    }


def client(**overrides: Any) -> dict[str, Any]:
    return {
        "given_name": "Sam",
        "family_name": "Rivera",
        "date_of_birth": "1985-04-12",
        "email": "sam@example.org",
        "phone": "+1 555 0100",
        "emergency_contact": {
            "name": "Alex Rivera",
            "phone": "+1 555 0101",
            "relationship": "partner",
        },
        **overrides,
    }


def precaution(**overrides: Any) -> dict[str, Any]:
    return {
        "category": "recent_surgery",
        "severity": "local",
        "body_regions": ["knees"],
        "description": "Left knee arthroscopy six weeks ago",
        **overrides,
    }
