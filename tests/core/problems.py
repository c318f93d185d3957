"""Assertions on RFC 9457 problem responses, shared by the foundation's tests."""

from __future__ import annotations

from typing import Any

import httpx


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    """The response is an `application/problem+json` document of this status and type."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{slug}"
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert response.headers.get("x-request-id")
    return body


def error_locs(body: dict[str, Any]) -> list[list[str | int]]:
    """The `loc` of every entry in a validation problem's `errors`."""
    errors = body["errors"]
    assert isinstance(errors, list)
    assert errors
    for error in errors:
        assert isinstance(error["msg"], str)
        assert error["msg"]
    return [error["loc"] for error in errors]
