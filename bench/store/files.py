"""One result file: written atomically (a crash never leaves half a file), read and written as CSV or JSON.

atomic_write_text replaces a file by a rename. Sets of files replaced as one
unit, and the recovery of an interrupted set write, are bench/store/storage.py's.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import tempfile
from pathlib import Path

from .schema import plain_name


class ResultsError(ValueError):
    """A result file or directory that cannot be used as it is; the message is one line."""


def member_path(directory: Path | str, name: str) -> Path:
    """directory/name, for `name` one plain name or "dir/name"; ResultsError if it could lead outside.

    No part below `directory` may be a symbolic link, and the resolved path must stay inside it.
    """
    directory = Path(directory)
    parts = name.split("/")
    if not 1 <= len(parts) <= 2 or not all(plain_name(p) for p in parts):
        raise ResultsError(f"{directory / name}: not a plain file name of a result set; refused")
    if directory.is_symlink():
        raise ResultsError(f"{directory}: a symbolic link; a result set must be a plain directory")
    path = directory
    for part in parts:
        path = path / part
        if path.is_symlink():
            raise ResultsError(f"{path}: a symbolic link inside a result set; refused so nothing is read or written outside it")
    if not path.resolve().is_relative_to(directory.resolve()):
        raise ResultsError(f"{path}: resolves outside {directory}; refused")
    return path


def _umask() -> int:
    try:  # Linux says it without changing it
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mode_for(path: Path) -> int:
    """The permissions of the file `path` replaces; for a new file, what open() would give."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _write_temp(path: Path, text: str, suffix: str) -> Path:
    """`text` in a new fsynced file beside `path`, with `path`'s permissions (mkstemp would give 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    try:
        os.fchmod(fd, _mode_for(path))
        with os.fdopen(fd, "w", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise OSError(e.errno, f"{e.strerror}; nothing replaced", str(path)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def atomic_write_text(path: Path | str, text: str) -> None:
    """Write to a temporary file beside `path`, then rename it over `path` in one step."""
    path = Path(path)
    tmp = _write_temp(path, text, ".tmp")
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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


def cells(row: dict, columns: list[str]) -> dict:
    """`row` as the strings a CSV of `columns` holds: what reading the written file gives back."""
    return {c: str(_cell(row[c])) for c in columns}


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
        with open(path, newline="", encoding="utf-8-sig") as f:  # a byte-order mark is not part of a column name
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


def json_text(data) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def write_json(path: Path | str, data) -> None:
    atomic_write_text(path, json_text(data))
