"""Field types shared by the schemas: documented maximum lengths for free text."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Name = ShortText
Email = Annotated[
    str,
    # no stripping: the pattern in the schema is exactly what the server accepts
    StringConstraints(max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
LongText = Annotated[str, Field(max_length=10_000)]
NoteText = Annotated[str, Field(max_length=20_000)]
