"""One writer per results directory: an exclusive OS lock (flock) on the directory itself.

A run holds it from its pre-run check to the end of its save (bench/conftest.py),
and every set write takes it (storage.write_set), so two writers never merge
into one directory at the same time: each reads the files, merges its rows and
rewrites them, and two interleaved would drop one's rows. A second writer
refuses at once, in one line naming the holder's PID and start time, rather
than wait: a second timed run on the same CPUs would slow the first one's
measurements, so waiting would only hide the clash.

The lock is the kernel's: it goes with the holder's process, however that
ends, so a killed run leaves no stale lock. The holder writes its PID and
start time to DIR/.tdbench-lock while it holds the lock and removes it on
release; one left by a killed holder is removed by the next recovery
(storage.recover). Within a process, `held` is reentrant: the suite holds the
lock and its save_run takes it again.
"""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path

from .files import ResultsError, atomic_write_text

HOLDER_FILE = ".tdbench-lock"

_held: dict[Path, tuple[int, int]] = {}  # directory (resolved) -> (its descriptor, holders in this process)


class Busy(ResultsError):
    """Another live process holds the lock of the directory."""


def _key(directory: Path) -> Path:
    return Path(directory).resolve()


def holds(directory: Path | str) -> bool:
    """Whether this process holds `directory`'s lock."""
    return _key(Path(directory)) in _held


def _open(directory: Path) -> int:
    # O_NOFOLLOW: a results directory that is a symbolic link is refused, as everywhere in a set.
    try:
        return os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        problem = "a symbolic link; a result set must be a plain directory" if directory.is_symlink() else e.strerror
        raise ResultsError(f"{directory}: cannot lock the results directory: {problem}") from None


def _holder(directory: Path) -> str:
    try:
        return (directory / HOLDER_FILE).read_text().strip() or "PID not yet written"
    except (OSError, UnicodeDecodeError):
        return "PID not yet written"


def acquire(directory: Path | str) -> None:
    """Take `directory`'s lock (creating the directory), or raise Busy naming the holder."""
    directory = Path(directory)
    key = _key(directory)
    if key in _held:
        fd, count = _held[key]
        _held[key] = (fd, count + 1)
        return
    if not directory.is_symlink():
        directory.mkdir(parents=True, exist_ok=True)
    fd = _open(directory)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise Busy(f"{directory}: another tdbench process is writing here ({_holder(directory)}); "
                   "wait for it to finish, or give another --results-dir") from None
    _held[key] = (fd, 1)
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
    try:
        atomic_write_text(directory / HOLDER_FILE, f"PID {os.getpid()}, started {started}\n")
    except BaseException:
        release(directory)
        raise


def release(directory: Path | str) -> None:
    key = _key(Path(directory))
    fd, count = _held[key]
    if count > 1:
        _held[key] = (fd, count - 1)
        return
    del _held[key]
    try:
        (Path(directory) / HOLDER_FILE).unlink(missing_ok=True)
    finally:
        os.close(fd)  # closing the descriptor drops the flock


@contextmanager
def held(directory: Path | str):
    """`with held(D):` D's lock for the block; raises Busy if another process holds it."""
    acquire(directory)
    try:
        yield
    finally:
        release(directory)


@contextmanager
def held_if_free(directory: Path | str):
    """The lock for the block if no other process holds it; yields whether it was taken."""
    try:
        acquire(directory)
    except Busy:
        yield False
        return
    try:
        yield True
    finally:
        release(directory)
