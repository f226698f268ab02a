"""Tables, one writer in two forms: Markdown (the README blocks, results/report.md) and plain
text (what each command prints). Callers format their cells; this lays them out.
"""

from __future__ import annotations

from collections.abc import Iterable

from .schema import float_or_none


def _cell(value) -> str:
    # A '|' would end the cell and a newline the row: a reason string may hold either.
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(header: Iterable, rows: Iterable[Iterable]) -> list[str]:
    """The lines of a GitHub-flavoured Markdown table."""
    header = [_cell(h) for h in header]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]


def text_table(header: Iterable, rows: Iterable[Iterable], align: str | None = None) -> list[str]:
    """The lines of a plain-text table: the header, a dashed rule, one line per row.

    Columns stand two spaces apart. A column whose cells are all numbers (or
    empty) is right-aligned, any other left-aligned; `align` overrides that
    with one character per column, "<" (left) or ">" (right).
    """
    header = [str(h) for h in header]
    body = [[str(c).replace("\n", " ") for c in row] for row in rows]
    for i, row in enumerate(body):
        if len(row) != len(header):
            raise ValueError(f"row {i} has {len(row)} cells, the header {len(header)}")
    columns = list(zip(*body)) if body else [() for _ in header]
    if align is None:
        align = "".join(">" if any(columns[i]) and all(c == "" or float_or_none(c) is not None for c in columns[i]) else "<"
                        for i in range(len(header)))
    if len(align) != len(header) or set(align) - {"<", ">"}:
        raise ValueError(f"align must be one '<' or '>' per column ({len(header)}); got {align!r}")
    widths = [max(len(c) for c in (h, *col)) for h, col in zip(header, columns)]

    def line(cells) -> str:
        return "  ".join(c.rjust(w) if a == ">" else c.ljust(w) for c, w, a in zip(cells, widths, align)).rstrip()

    return [line(header), line(["-" * w for w in widths]), *map(line, body)]
