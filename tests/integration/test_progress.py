"""Progress of long commands: plain lines when the output is not a terminal, a bar when it is."""

from __future__ import annotations

import io

from app.core.progress import progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_at_every_tenth_when_not_a_terminal() -> None:
    out = io.StringIO()
    with progress("import clients", 20, out) as advance:
        for _ in range(20):
            advance(1)
    lines = out.getvalue().splitlines()
    assert lines[0] == "import clients: 1/20 (5%)"
    assert lines[1] == "import clients: 2/20 (10%)"
    assert lines[-1] == "import clients: 20/20 (100%)"
    assert len(lines) == 11


def test_plain_lines_without_a_total() -> None:
    out = io.StringIO()
    with progress("export sessions", None, out) as advance:
        advance(999)
        advance(1)
        advance(500)
    assert out.getvalue().splitlines() == [
        "export sessions: 999",
        "export sessions: 1000",
        "export sessions: 1500 done",
    ]


def test_a_bar_on_a_terminal() -> None:
    out = Terminal()
    with progress("import clients", 20, out) as advance:
        advance(20)
    text = out.getvalue()
    assert "import clients" in text
    assert "20/20" in text
    assert "(100%)" not in text
    assert "━" in text  # rich's bar
