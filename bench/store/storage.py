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

import json
import os
from pathlib import Path

from . import lock
# Set writes go through these names of this module (tests replace them to interrupt a write).
from .files import ResultsError, _sync_directory, _write_temp, atomic_write_text, member_path
from .schema import RAW_DIR, plain_name, set_member

COMMIT_MARKER = ".tdbench-commit.json"
STAGED_SUFFIX = ".tdbench-staged"


def write_set(directory: Path | str, files: dict[str, str]) -> None:
    """Replace the files `files` names (member name -> text) in `directory`: all new or all old.

    Names are the set's own (bench/store/schema.py set_member), raw/<slice>.json included.
    """
    directory = Path(directory).absolute()  # staged files come back absolute: their plan is relative to this
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
    pattern = f".*{STAGED_SUFFIX}"
    raw = directory / RAW_DIR
    below = list(raw.glob(pattern)) if raw.is_dir() and not raw.is_symlink() else []
    return [*directory.glob(pattern), *below]


def recover(directory: Path | str) -> None:
    """Finish a set write that was committed but interrupted; drop files staged by an uncommitted one.

    Only under the directory's lock: while another process holds it, its staged
    files are its own, in the middle of a write it will finish or undo.
    """
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
