"""`careplan export DIR`: one NDJSON file per resource type and `manifest.json` with each file's
row count and SHA-256, written from the same stream as `GET /v1/export`, in constant memory."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, TypedDict

import orjson
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import utcnow
from app.export.service import ExportedResource, export_lines

MANIFEST = "manifest.json"

ProgressFactory = Callable[[str, int | None], AbstractContextManager[Callable[[int], None]]]


class ManifestFile(TypedDict):
    resource: str
    resource_type: str
    file: str
    count: int
    sha256: str


class Manifest(TypedDict):
    exported_at: str
    files: list[ManifestFile]


def prepare_folder(folder: Path) -> None:
    """Creates the folder, or accepts an empty one; raises ValueError for anything else."""
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{folder}: exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()):
        raise ValueError(f"{folder}: not empty; choose a new or empty folder")
    folder.mkdir(parents=True, exist_ok=True)


async def export_to_folder(
    db: AsyncSession,
    folder: Path,
    resources: Sequence[ExportedResource],
    progress: ProgressFactory,
) -> Manifest:
    files: list[ManifestFile] = []
    for resource in resources:
        total = await db.scalar(select(func.count()).select_from(resource.model))
        path = folder / f"{resource.name}.ndjson"
        digest = hashlib.sha256()
        count = 0
        with path.open("wb") as out, progress(f"export {resource.name}", total or 0) as advance:
            async for chunk in export_lines(db, resource, None):
                out.write(chunk)
                digest.update(chunk)
                rows = chunk.count(b"\n")
                count += rows
                advance(rows)
        files.append(
            {
                "resource": resource.name,
                "resource_type": resource.resource_type,
                "file": path.name,
                "count": count,
                "sha256": digest.hexdigest(),
            }
        )
    manifest: Manifest = {
        "exported_at": utcnow().isoformat().replace("+00:00", "Z"),
        "files": files,
    }
    manifest_json: Any = orjson.dumps(manifest, option=orjson.OPT_INDENT_2)
    (folder / MANIFEST).write_bytes(manifest_json + b"\n")
    return manifest
