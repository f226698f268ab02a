"""Provenance recorded by the suite itself: machine, threads, versions, date."""

from __future__ import annotations

import datetime
import os
import platform

from impls.contract import gpu_name, package_version

from ..store.machine import cpu_model

PACKAGES = ("keras", "tensorflow", "torch", "jax", "jaxlib", "numpy", "pandas", "pytest", "pytest-benchmark")


def today() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def collect(threads: int, keras_backend: str) -> dict:
    from ..store.machine import fingerprint
    from .runtime import available_cores, malloc_settings, pinned_cpus, thread_report

    return {
        "machine": fingerprint(),
        "thread_pools": thread_report(threads),
        "date": today(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cores_available": available_cores(),
        "pinned_cpus": pinned_cpus(),  # the CPUs the timed process was kept on (bench/suite/runtime.py pin_cpus)
        "malloc": malloc_settings(),  # glibc thresholds fixed for the timed process (runtime.fix_malloc)
        "threads": threads,
        "gpu": gpu_name(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "keras_backend": keras_backend,
        "versions": {name: package_version(name) for name in PACKAGES},
    }
