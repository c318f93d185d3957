"""`careplan import clients FILE.csv`: every row checked with the API's own `ClientCreate`
first, then the valid rows created, skipping clients already there (same given name, family name
and date of birth), so importing a file twice adds nothing. The rows are the ORM's, in one
transaction: their `client.created` events are written at its commit (`app.events.outbox`), so
the event sequencer is held only for that commit's tail, not for the whole import."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.audit.service import Actor, AuditAction
from app.clients.models import Client
from app.clients.schemas import ClientCreate
from app.core import crud

COLUMNS = (
    "given_name",
    "family_name",
    "date_of_birth",
    "email",
    "phone",
    "address",
    "pregnancy_due_date",
    "notes",
)
REQUIRED = ("given_name", "family_name")

DuplicateKey = tuple[str, str, dt.date | None]


class ImportFileError(ValueError):
    """The file as a whole cannot be read: missing, not UTF-8 CSV, a bad header."""


@dataclass
class BadRow:
    line: int
    values: dict[str, str]
    errors: list[str]  # "field: message"


@dataclass
class ParsedFile:
    header: list[str]
    valid: list[tuple[int, ClientCreate]] = field(default_factory=list)
    invalid: list[BadRow] = field(default_factory=list)


def read_clients_csv(path: Path) -> ParsedFile:
    """Reads and checks every row; raises ImportFileError for a file that is not usable."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as error:
        raise ImportFileError(f"{path}: no such file") from error
    except IsADirectoryError as error:
        raise ImportFileError(f"{path}: is a folder, not a CSV file") from error
    except UnicodeDecodeError as error:
        raise ImportFileError(f"{path}: not UTF-8 text") from error
    except OSError as error:
        raise ImportFileError(f"{path}: {error.strerror}") from error
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration as error:
        raise ImportFileError(
            f"{path}: empty file; the first line must name the columns"
        ) from error
    except csv.Error as error:
        raise ImportFileError(f"{path}: not CSV ({error})") from error
    _check_header(path, header)
    parsed = ParsedFile(header)
    try:
        for values in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in values):
                continue  # blank line
            if len(values) != len(header):
                row = dict(zip(header, values, strict=False))
                parsed.invalid.append(
                    BadRow(line, row, [f"row: {len(values)} cells, the header has {len(header)}"])
                )
                continue
            row = dict(zip(header, values, strict=True))
            data = {name: value.strip() for name, value in row.items() if value.strip()}
            try:
                parsed.valid.append((line, ClientCreate.model_validate(data)))
            except ValidationError as error:
                parsed.invalid.append(BadRow(line, row, _messages(error)))
    except csv.Error as error:
        raise ImportFileError(f"{path}, line {reader.line_num}: not CSV ({error})") from error
    return parsed


def _check_header(path: Path, header: list[str]) -> None:
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        raise ImportFileError(
            f"{path}: unknown column {', '.join(repr(n) for n in unknown)}; "
            f"the columns are {','.join(COLUMNS)}"
        )
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise ImportFileError(f"{path}: column {', '.join(repeated)} appears twice")
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise ImportFileError(f"{path}: missing column {', '.join(missing)}")


def _messages(error: ValidationError) -> list[str]:
    out = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "row"
        out.append(f"{where}: {str(item['msg']).removeprefix('Value error, ')}")
    return out


def write_rejects(path: Path, header: Sequence[str], rows: Sequence[BadRow]) -> None:
    """The bad rows with the file's own header, so they can be fixed and imported again."""
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(header), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(row.values)


def rejects_path(path: Path) -> Path:
    """`clients.csv` → `clients.rejects.csv`."""
    return path.with_name(f"{path.stem}.rejects.csv")


def _identity(given_name: str, family_name: str, born: dt.date | None) -> DuplicateKey:
    return given_name.strip().casefold(), family_name.strip().casefold(), born


async def import_clients(
    db: AsyncSession,
    rows: Sequence[tuple[int, ClientCreate]],
    actor: Actor,
    advance: Callable[[int], None] = lambda _: None,
) -> tuple[int, int]:
    """Creates the clients not already present; returns (imported, skipped as present)."""
    existing = await db.execute(select(Client.given_name, Client.family_name, Client.date_of_birth))
    known = {_identity(*row) for row in existing}
    imported = skipped = 0
    for _, data in rows:
        identity = _identity(data.given_name, data.family_name, data.date_of_birth)
        if identity in known:
            skipped += 1
        else:
            known.add(identity)
            client = await crud.create(db, Client, data)
            audit.record(db, actor, AuditAction.create, "client", client.id, client.id)
            imported += 1
        advance(1)
    return imported, skipped
