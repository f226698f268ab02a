"""Reading and writing result files: atomic, so a crash never leaves half a file."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path


def atomic_write_text(path: Path | str, text: str) -> None:
    """Write to a temporary file beside `path`, then rename it over `path` in one step."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def csv_text(rows: list[dict], columns: list[str]) -> str:
    """CSV with exactly `columns`, in order; a row missing a column is an error."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for i, row in enumerate(rows):
        missing = [c for c in columns if c not in row]
        if missing:
            raise ValueError(f"row {i} lacks column(s) {', '.join(missing)}")
        writer.writerow({c: _cell(row[c]) for c in columns})
    return out.getvalue()


def _cell(value):
    if isinstance(value, float):
        return repr(value)  # full precision, round-trips exactly
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return "" if value is None else value


def write_csv(path: Path | str, rows: list[dict], columns: list[str]) -> None:
    atomic_write_text(path, csv_text(rows, columns))


def read_csv(path: Path | str, required: list[str] | tuple = ()) -> list[dict]:
    """Rows as dicts of strings; raises ValueError naming the file if columns are missing."""
    path = Path(path)
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            header = reader.fieldnames or []
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ValueError(f"{path}: not a readable CSV ({e})") from e
    missing = [c for c in required if c not in header]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
    return rows


def write_json(path: Path | str, data) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
