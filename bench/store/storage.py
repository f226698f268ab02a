"""Reading and writing result files: atomic, so a crash never leaves half a file.

One file is replaced by a rename (atomic_write_text). A set of files (a run's
benchmarks.csv, comparison.csv, td_tax.csv and environment.json) is replaced
as one unit by write_set: every new file is staged beside the old ones, then a
commit marker names them, then they are renamed into place. A process that
dies before the marker leaves the old set (and staged files that recover()
removes); one that dies after it leaves a marker from which recover() finishes
the renames. Every reader of a results directory calls recover() first.

Only names the suite chose are written or moved: a set's members are plain
file names, at most one directory down (raw/<slice>.json), checked to stay
inside the directory (member_path). The marker's contents are data: a key or
a staged name that is not such a member is refused, never followed. Symbolic
links inside a set are refused, not resolved: a link would let a write land
outside it. Set writes and recovery run under the directory's lock
(bench/store/lock.py), so no process finishes or removes another live one's
staged files.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
import tempfile
from pathlib import Path

COMMIT_MARKER = ".tdbench-commit.json"
STAGED_SUFFIX = ".tdbench-staged"
PLAIN_NAME = re.compile(r"[A-Za-z0-9_.-]+")  # what a file name built from a cell may hold


class ResultsError(ValueError):
    """A result file or directory that cannot be used as it is; the message is one line."""


def plain_name(text: str) -> bool:
    """A name with no separator, no "..", nothing a shell or a path would read: safe to build a file name from."""
    return bool(PLAIN_NAME.fullmatch(text)) and ".." not in text


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


def write_set(directory: Path | str, files: dict[str, str]) -> None:
    """Replace the files `files` names (member name -> text) in `directory`: all new or all old.

    Names are the set's own (bench/store/results.py set_member), raw/<slice>.json included.
    """
    from . import lock

    directory = Path(directory)
    paths = {name: _member(directory, name) for name in files}
    with lock.held(directory):
        recover(directory)
        staged: dict[str, Path] = {}
        try:
            for name, text in files.items():
                staged[name] = _write_temp(paths[name], text, STAGED_SUFFIX)
            plan = {n: p.relative_to(directory).as_posix() for n, p in staged.items()}
            # The commit point: once the marker exists, the new set is the one on record.
            atomic_write_text(directory / COMMIT_MARKER, json.dumps(plan) + "\n")
        except BaseException:
            for path in staged.values():
                path.unlink(missing_ok=True)
            raise
        _finish_commit(directory)


def _member(directory: Path, name: str) -> Path:
    """member_path for a name the set may hold; anything else is refused."""
    from .results import set_member

    if not set_member(name):
        raise ResultsError(f"{directory / name}: not a file of a result set; refused")
    return member_path(directory, name)


def _is_staged_copy(name: str, staged: str) -> bool:
    """Whether `staged` is the name _write_temp gives a staged copy of member `name` (same directory)."""
    folder, _, base = name.rpartition("/")
    staged_folder, _, staged_base = staged.rpartition("/")
    return (staged_folder == folder and staged_base.startswith(f".{base}.") and staged_base.endswith(STAGED_SUFFIX)
            and plain_name(staged_base))


def _commit_plan(directory: Path) -> dict[str, tuple[Path, Path]]:
    """The marker's renames, member -> (staged path, final path), every name checked before any is used."""
    marker = directory / COMMIT_MARKER
    keep_old = "remove it and the .*.tdbench-staged files to keep the old set"
    if marker.is_symlink():
        raise ResultsError(f"{marker}: a symbolic link, not a commit marker; {keep_old}")
    try:
        plan = json.loads(marker.read_text())
        assert isinstance(plan, dict) and all(isinstance(v, str) for v in plan.values())
    except (ValueError, AssertionError, UnicodeDecodeError):
        raise ResultsError(f"{marker}: unreadable commit marker of an interrupted write; {keep_old}") from None
    renames = {}
    for name, staged in plan.items():
        if not _is_staged_copy(name, staged):
            raise ResultsError(f"{marker}: {name!r} -> {staged!r} is not a result file and its staged copy; "
                               f"refused, nothing moved; {keep_old}")
        renames[name] = (member_path(directory, staged), _member(directory, name))
    return renames


def _finish_commit(directory: Path) -> None:
    renames = _commit_plan(directory)
    for staged, final in renames.values():
        if staged.exists():  # renamed already if an earlier recovery got this far
            os.replace(staged, final)
    for folder in {directory, *(final.parent for _, final in renames.values())}:
        _sync_directory(folder)
    (directory / COMMIT_MARKER).unlink()
    _sync_directory(directory)


def _staged_files(directory: Path) -> list[Path]:
    from .results import RAW_DIR

    pattern = f".*{STAGED_SUFFIX}"
    raw = directory / RAW_DIR
    below = list(raw.glob(pattern)) if raw.is_dir() and not raw.is_symlink() else []
    return [*directory.glob(pattern), *below]


def recover(directory: Path | str) -> None:
    """Finish a set write that was committed but interrupted; drop files staged by an uncommitted one.

    Only under the directory's lock: while another process holds it, its staged
    files are its own, in the middle of a write it will finish or undo.
    """
    from . import lock

    directory = Path(directory)
    marker, holder = directory / COMMIT_MARKER, directory / lock.HOLDER_FILE
    if lock.holds(directory):
        return _recover(directory)
    if not (marker.exists() or marker.is_symlink() or holder.exists() or _staged_files(directory)):
        return  # nothing left over: a set that is only read gets no lock taken, no file written
    with lock.held_if_free(directory) as ours:  # taking it removes a killed holder's .tdbench-lock
        if ours:
            _recover(directory)


def _recover(directory: Path) -> None:
    marker = directory / COMMIT_MARKER
    if marker.exists() or marker.is_symlink():
        _finish_commit(directory)
    for stray in _staged_files(directory):
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
