"""Provenance recorded by the suite itself: machine, threads, versions, date."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path

from impls.contract import gpu_name, package_version

from ..store.machine import cpu_model, fingerprint
from .runtime import available_cores, malloc_settings, pinned_cpus, thread_report

PACKAGES = ("keras", "tensorflow", "torch", "jax", "jaxlib", "numpy", "pandas", "pytest", "pytest-benchmark")


def today() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def code_version() -> str | None:
    """The checkout's commit, with "+changes" when tracked files other than results/ differ from it;
    None outside git. (A run merges into results/, so result files differ from the commit by design.)"""
    root = str(Path(__file__).resolve().parents[2])
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=30)
        if head.returncode != 0:
            return None
        changes = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no", "--", ".", ":!results"],
                                 capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+changes" if changes.stdout.strip() else "")


def collect(threads: int, keras_backend: str, code: str | None) -> dict:
    """The slice's environment, at the end of a run; `code` is code_version() from its start (the code that ran)."""
    return {
        "machine": fingerprint(),
        "thread_pools": thread_report(threads),
        "date": today(),
        "code": code,  # the commit timed; `bench stability` keeps it in its history
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cores_available": available_cores(),
        "pinned_cpus": pinned_cpus(),  # the CPUs the timed process was kept on (bench/suite/runtime.py pin_cpus)
        "malloc": malloc_settings(),  # glibc thresholds fixed for the timed process (runtime.fix_malloc)
        "threads": threads,
        "gpu": gpu_name(),
        "os": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],  # at the save: other work on the machine meanwhile
        # the timing process's nice value: above 0, other work on the machine takes the CPU first (a Ray
        # worker starts at 15 unless its node was started with RAY_worker_niceness=0)
        "niceness": os.getpriority(os.PRIO_PROCESS, 0),
        "python": platform.python_version(),
        "keras_backend": keras_backend,
        "versions": {name: package_version(name) for name in PACKAGES},
    }
