"""The files that commands write beside a run's set (params.csv, parity.csv, seed.csv, memory.csv), merged
as the suite merges benchmarks.csv: the rows of what this command ran replace that thing's old rows in place,
every other row stays, and the file is replaced in one rename under the directory's lock.

A command names the columns that say which thing a row belongs to (its `group`:
parity's case, params' topology and sizes, seed's topology, memory's case key). A
partial run (`--topology one_to_one`) thus rewrites one topology's rows and keeps
the others. A file whose numbers depend on the machine is refused in a directory
that belongs to another machine (machine.check_same_machine), as timed results are.
"""

from __future__ import annotations

from pathlib import Path

from . import lock
from .machine import OtherMachine, check_same_machine
from .files import ResultsError, cells, read_csv, write_csv


def _group_of(row: dict, group: tuple[str, ...]) -> tuple:
    return tuple(str(row[c]) for c in group)


def merge_grouped(old: list[dict], new: list[dict], group: tuple[str, ...]) -> list[dict]:
    """`old` with each group that `new` holds replaced where its first old row stood; new groups appended."""
    new_by_group: dict[tuple, list[dict]] = {}
    for row in new:
        new_by_group.setdefault(_group_of(row, group), []).append(row)
    merged, placed = [], set()
    for row in old:
        key = _group_of(row, group)
        if key not in new_by_group:
            merged.append(row)
        elif key not in placed:
            merged += new_by_group[key]
            placed.add(key)
    return merged + [r for key, rows in new_by_group.items() if key not in placed for r in rows]


def save_rows(path: Path, rows: list[dict], columns: list[str], group: tuple[str, ...],
              machine_bound: bool = True) -> list[dict]:
    """Merge `rows` into the CSV at `path` (see the module docstring); the merged rows, as the file's strings."""
    path = Path(path)
    directory = path.parent
    with lock.held(directory):
        if machine_bound:
            try:
                check_same_machine(directory)
            except OtherMachine as e:
                raise ResultsError(str(e)) from None
        try:
            old = read_csv(path, required=list(group)) if path.exists() else []
        except ValueError as e:
            raise ResultsError(str(e)) from None
        old = [{c: r.get(c, "") for c in columns} for r in old]  # a column added since reads as empty
        merged = merge_grouped(old, [cells(r, columns) for r in rows], group)
        write_csv(path, merged, columns)
    return merged
