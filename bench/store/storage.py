"""Reading and writing result files: atomic, so a crash never leaves half a file.

One file is replaced by a rename (atomic_write_text). A set of files (a run's
benchmarks.csv, comparison.csv, td_tax.csv and environment.json) is replaced
as one unit by write_set: every new file is staged beside the old ones, then a
commit marker names them, then they are renamed into place. A process that
dies before the marker leaves the old set (and staged files that recover()
removes); one that dies after it leaves a marker from which recover() finishes
the renames. Every reader of a results directory calls recover() first.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import tempfile
from pathlib import Path

COMMIT_MARKER = ".tdbench-commit.json"
STAGED_SUFFIX = ".tdbench-staged"


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


def write_set(directory: Path | str, files: dict[str, str]) -> None:
    """Replace the files `files` names (file name -> text) in `directory`: all new or all old."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    recover(directory)
    staged: dict[str, Path] = {}
    try:
        for name, text in files.items():
            staged[name] = _write_temp(directory / name, text, STAGED_SUFFIX)
        # The commit point: once the marker exists, the new set is the one on record.
        atomic_write_text(directory / COMMIT_MARKER, json.dumps({n: p.name for n, p in staged.items()}) + "\n")
    except BaseException:
        for path in staged.values():
            path.unlink(missing_ok=True)
        raise
    _finish_commit(directory)


def _finish_commit(directory: Path) -> None:
    marker = directory / COMMIT_MARKER
    try:
        plan = json.loads(marker.read_text())
        assert isinstance(plan, dict) and all(isinstance(v, str) and "/" not in v for v in plan.values())
    except (ValueError, AssertionError, UnicodeDecodeError) as e:
        raise ValueError(f"{marker}: unreadable commit marker of an interrupted write; "
                         "remove it and the .*.tdbench-staged files to keep the old set") from e
    for name, staged in plan.items():
        if (directory / staged).exists():  # renamed already if an earlier recovery got this far
            os.replace(directory / staged, directory / name)
    _sync_directory(directory)
    marker.unlink()
    _sync_directory(directory)


def recover(directory: Path | str) -> None:
    """Finish a set write that was committed but interrupted; drop files staged by an uncommitted one."""
    directory = Path(directory)
    if (directory / COMMIT_MARKER).exists():
        _finish_commit(directory)
    for stray in directory.glob(f".*{STAGED_SUFFIX}"):
        stray.unlink()


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


def number(cell) -> float | None:
    """A cell as a float, or None where it holds no number ("", None, "fast")."""
    try:
        return float(cell)
    except (TypeError, ValueError):
        return None


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


def json_text(data) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def write_json(path: Path | str, data) -> None:
    atomic_write_text(path, json_text(data))
