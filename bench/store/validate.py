"""Existing result files checked before anything is timed, read or rewritten.

A malformed file (cut short, binary, no header, a row with the wrong number
of fields, a number that is not one, a repeated case, an environment.json
that is not the expected object, a number that is NaN, infinite or below 0, a
symbolic link where the set keeps a file) raises ResultsError: one line naming
the file, the line and the problem. Nothing here writes, except recover(), which
finishes a set write that a crash interrupted (bench/store/storage.py).

The columns come from bench/store/schema.py: a column added there is known here
without a second edit. A column of that list missing from an older file is
optional (read as empty), unless it identifies a row or holds its value
(REQUIRED). Columns checked as numbers are those of NUMBERS that the list
still has; a new column is checked as text until it is added there.
"""

from __future__ import annotations

import csv
import io
import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import noise, raw
from .files import ResultsError, member_path
from .schema import (
    BENCHMARK_COLUMNS, CASE_KEY, COMPARISON_COLUMNS, FILES, RAW_DIR, SIZE_COLUMNS, SLICE_COLUMNS, TD_TAX_COLUMNS,
    float_or_none, plain_name,
)
from .storage import recover


# Cells that become parts of file names (raw/<slice>.json, the report's plots): plain names only.
NAME_COLUMNS = ["topology", *SLICE_COLUMNS]


@dataclass(frozen=True)
class Schema:
    columns: list[str]  # every column the code writes (bench/store/schema.py)
    required: list[str]  # those an older file must have too
    numbers: list[str]  # cells that are empty or a number
    key: list[str] | None = None  # unique per row


SCHEMAS = {
    "benchmarks": Schema(
        BENCHMARK_COLUMNS, [*CASE_KEY, "status", "median_s"],
        [*SIZE_COLUMNS, "params", "threads", "rounds", "median_s", "iqr_s", "min_s", "mean_s", "stddev_s",
         "spread", "first_call_s", "samples_per_s", "flops", "gflops", "peak_gflops", "peak_fraction",
         "max_abs_diff"],
        key=CASE_KEY,
    ),
    "comparison": Schema(
        COMPARISON_COLUMNS,
        [*SLICE_COLUMNS, "topology", "mode", "size", "keras_head", "torch_head", "keras_median_s",
         "torch_median_s", "keras_over_torch"],
        [*SIZE_COLUMNS, "keras_median_s", "torch_median_s", "keras_over_torch", "ci_low", "ci_high", "blocks", "precision",
         "keras_spread", "torch_spread",
         "params_keras", "params_torch", "max_abs_diff"],
    ),
    "td_tax": Schema(
        TD_TAX_COLUMNS,
        ["framework", "backend", "keras_backend", "compile", "mode", "device", "timesteps", "looped_s", "fused_s", "tax"],
        ["timesteps", "looped_s", "fused_s", "tax", "looped_spread", "fused_spread"],
    ),
}


def _text(path: Path) -> str:
    data = path.read_bytes()
    if b"\0" in data:
        offset = data.index(b"\0")
        raise ResultsError(f"{path}: binary data (a NUL byte at offset {offset}), not a text file")
    try:
        return data.decode("utf-8-sig")  # a spreadsheet's byte-order mark is not part of the first column's name
    except UnicodeDecodeError as e:
        raise ResultsError(f"{path}: not UTF-8 text (byte {e.start})") from None


def _check_number(path: Path, line: int, column: str, cell: str) -> None:
    """Empty, or a finite number of at least 0: every number column holds a time, size, count or ratio."""
    if not cell.strip():
        return
    value = float_or_none(cell)
    if value is None:
        raise ResultsError(f"{path}: line {line}, column {column}: {cell!r} is not a number")
    if not math.isfinite(value) or value < 0:
        raise ResultsError(f"{path}: line {line}, column {column}: {cell!r} is not a finite number of at least 0")


def check_csv(path: Path | str, kind: str, writing: bool = False) -> list[dict]:
    """The rows of a result CSV of `kind` (a SCHEMAS key), every column of its list present.

    Raises ResultsError on the first problem. With `writing`, a column the code
    does not know is a problem too: rewriting the file would drop it.
    """
    path, schema = Path(path), SCHEMAS[kind]
    text = _text(path)
    if not text:
        raise ResultsError(f"{path}: empty file, not even a header line")
    lines = text.count("\n") + (not text.endswith("\n"))
    if not text.endswith("\n"):
        raise ResultsError(f"{path}: line {lines}: ends without a newline; the file was cut short")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
        missing = [c for c in schema.required if c not in header]
        if missing:
            named = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise ResultsError(f"{path}: line 1: the header lacks column(s) {named} (is the header line missing?)")
        repeated = sorted({c for c in header if header.count(c) > 1})
        if repeated:
            raise ResultsError(f"{path}: line 1: column(s) {', '.join(repeated)} appear twice in the header")
        unknown = [c for c in header if c not in schema.columns]
        if writing and unknown:
            raise ResultsError(
                f"{path}: line 1: unknown column(s) {', '.join(unknown)} would be dropped on rewrite "
                "(written by another version of tdbench?)"
            )
        numbers = [c for c in schema.numbers if c in header and c in schema.columns]
        names = [c for c in NAME_COLUMNS if c in header]
        rows, seen = [], {}
        for cells in reader:
            line = reader.line_num
            if len(cells) != len(header):
                raise ResultsError(f"{path}: line {line}: {len(cells)} field(s), the header has {len(header)}")
            row = dict(zip(header, cells))
            for column in numbers:
                _check_number(path, line, column, row[column])
            for column in names:
                if row[column] and not plain_name(row[column]):
                    raise ResultsError(f"{path}: line {line}, column {column}: {row[column]!r} is not a plain name "
                                       "(letters, digits, _ . -); it would become part of a file name")
            if schema.key:
                key = tuple(row[c] for c in schema.key)
                if key in seen:
                    raise ResultsError(f"{path}: line {line}: the same case as line {seen[key]} ({', '.join(key[:6])} ...)")
                seen[key] = line
            rows.append({c: row.get(c, "") for c in schema.columns} | {c: row[c] for c in unknown})
    except csv.Error as e:
        raise ResultsError(f"{path}: line {reader.line_num}: not valid CSV ({e})") from None
    return rows


def check_environment(path: Path | str) -> dict:
    """environment.json as a dict: {"slices": {slice name: {machine and versions}}}."""
    path = Path(path)
    try:
        data = json.loads(_text(path))
    except json.JSONDecodeError as e:
        raise ResultsError(f"{path}: line {e.lineno}: not valid JSON ({e.msg}); the file may be cut short") from None
    if not isinstance(data, dict) or not isinstance(data.get("slices"), dict):
        found = type(data).__name__ if not isinstance(data, dict) else "an object without a 'slices' object"
        raise ResultsError(f"{path}: expected an object with a 'slices' object, found {found}")
    for name, entry in data["slices"].items():
        if not isinstance(entry, dict):
            raise ResultsError(f"{path}: slices[{name!r}] is a {type(entry).__name__}, expected an object")
    return data


def check_writable(directory: Path | str) -> None:
    """Refuse a results directory this process cannot create files in (found by trying, so root too)."""
    directory = Path(directory)
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ResultsError(f"{directory}: cannot be a results directory: {existing} is not a directory")
    try:
        with tempfile.TemporaryFile(dir=existing, prefix=".tdbench-probe-"):
            pass
    except OSError as e:
        raise ResultsError(f"{directory}: results directory is not writable ({e.strerror})") from None


def _check_members(directory: Path) -> None:
    """No symbolic link where the set keeps its files: a link would let a read or a write reach outside it."""
    names = [*FILES.values(), noise.NOISE_FILE, RAW_DIR]
    raw = directory / RAW_DIR
    if raw.is_dir() and not raw.is_symlink():
        names += [f"{RAW_DIR}/{p.name}" for p in sorted(raw.iterdir()) if p.suffix == ".json"]
    for name in names:
        member_path(directory, name)


def check_results_dir(directory: Path | str, writing: bool = False, kinds=("benchmarks", "comparison", "td_tax")) -> None:
    """Every result file of `directory` that exists, checked: the CSVs, environment.json, noise.json and
    every raw/*.json; with `writing`, the directory and raw/ must take new files."""
    directory = Path(directory)
    if writing:
        check_writable(directory)
    if directory.exists() and not directory.is_dir():
        raise ResultsError(f"{directory}: not a directory")
    _check_members(directory)
    try:
        recover(directory)
    except (OSError, ValueError) as e:
        raise ResultsError(f"{directory}: could not finish an interrupted write: {e}") from None
    for kind in kinds:
        path = directory / FILES[kind]
        if path.exists():
            check_csv(path, kind, writing=writing)
    if (directory / FILES["environment"]).exists():
        check_environment(directory / FILES["environment"])
    noise.load(directory)
    for path in raw.files(directory):
        raw.read_file(path)
    if writing and (directory / RAW_DIR).is_dir():
        check_writable(directory / RAW_DIR)
