"""A task's temporary directories on its node, removed even when the task is killed.

`tempfile.TemporaryDirectory` removes its directory when the `with` block
ends, which a Ray worker killed with SIGKILL never reaches: a lost worker
(killed, out of memory), `ray.cancel(force=True)` (the driver cancels a
problem's other processes when one fails) and a driver that ends (Ray kills
its job's workers) each leave the task's directory behind, and the task's
pytest, killed with its worker (task.py `_in_child`), leaves its results
directory's `.tdbench-lock` in it (bench/store/lock.py). Nothing on the node
cleaned them up: every killed task left one in the node's temporary directory.

So a task holds an exclusive lock (flock) on its directory for as long as it
lives, and the kernel drops it however the task ends. Each new directory
first removes every directory of this kind whose lock no process holds
(`sweep`): its owner is gone. A directory is marked (MARK) only once its
owner holds its lock, a sweep takes only marked ones and removes one only
under its lock, so a sweep by another task (two nodes of one machine share
its temporary directory) never removes one in use; anything else under the
prefix (another tool's, or one made before this module) is left alone, and
so is one whose task was killed in the instant between making and marking it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from pathlib import Path

PREFIX = "tdbench-"
MARK = ".tdbench-scratch"  # in every directory made here: what the sweep may remove


def _lock(path: Path, wait: bool) -> int | None:
    """An open descriptor of directory `path` holding its exclusive lock, or None (held elsewhere, or gone)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except OSError:
        os.close(fd)
        return None
    return fd


def sweep(root: Path | None = None) -> list[Path]:
    """Remove every directory made here under `root` (the temporary directory) whose owner is gone."""
    root = Path(root or tempfile.gettempdir())
    removed = []
    for path in sorted(root.glob(f"{PREFIX}*")):
        if path.is_symlink() or not (path / MARK).is_file():
            continue
        fd = _lock(path, wait=False)
        if fd is None:  # its owner lives
            continue
        try:
            if (path / MARK).is_file():  # still this kind, still there, now ours
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
        finally:
            os.close(fd)
    return removed


@contextlib.contextmanager
def directory(purpose: str, root: Path | None = None):
    """`with directory("task") as path:` a new empty directory tdbench-PURPOSE-* under `root` (the temporary
    directory), held by this process until the block ends and then removed; one whose owner was killed is
    removed by the next one made on the machine (sweep)."""
    root = Path(root or tempfile.gettempdir())
    sweep(root)
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{purpose}-", dir=root))
    fd = _lock(path, wait=True)  # at once: no sweep locks a directory not yet marked
    if fd is None:
        raise OSError(f"{path}: cannot lock the directory just made")
    try:
        (path / MARK).write_text(f"PID {os.getpid()}: removed when this process ends, or by the next task if killed\n")
        yield path
    finally:
        try:
            shutil.rmtree(path, ignore_errors=True)
        finally:
            os.close(fd)
