"""Markdown tables, the one writer behind the README blocks and results/report.md."""

from __future__ import annotations

from collections.abc import Iterable


def _cell(value) -> str:
    # A '|' would end the cell and a newline the row: a reason string may hold either.
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(header: Iterable, rows: Iterable[Iterable]) -> list[str]:
    """The lines of a GitHub-flavoured Markdown table."""
    header = [_cell(h) for h in header]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
