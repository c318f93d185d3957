"""Progress of long commands: a `rich` bar on a terminal, plain lines otherwise (logs, CI)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

PLAIN_STEPS = 10  # plain output: a line at every tenth of the total
PLAIN_EVERY = 1000  # or every this many items when the total is unknown

Advance = Callable[[int], None]


@contextmanager
def progress(
    description: str, total: int | None, stream: TextIO | None = None
) -> Iterator[Advance]:
    """Yields `advance(n)`; shows a bar when `stream` (stderr) is a terminal."""
    out = stream or sys.stderr
    if out.isatty():
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        columns = (
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=Console(file=out)) as bar:
            task = bar.add_task(description, total=total)
            yield lambda n: bar.advance(task, n)
        return
    done = 0
    shown = -1

    def advance(n: int) -> None:
        nonlocal done, shown
        done += n
        if total:
            step = done * PLAIN_STEPS // total
            if step != shown:
                shown = step
                out.write(f"{description}: {done}/{total} ({done * 100 // total}%)\n")
                out.flush()
        elif done // PLAIN_EVERY != shown:
            shown = done // PLAIN_EVERY
            out.write(f"{description}: {done}\n")
            out.flush()

    yield advance
    if not total:
        out.write(f"{description}: {done} done\n")
        out.flush()
