"""Provenance recorded by the suite itself: machine, threads, versions, date."""

from __future__ import annotations

import datetime
import os
import platform
from importlib import metadata

from .machine import cpu_model

PACKAGES = ("keras", "tensorflow", "torch", "jax", "jaxlib", "numpy", "pandas", "pytest", "pytest-benchmark")


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def gpu_name() -> str:
    """The CUDA device torch sees, or "none" (torch is the one framework on every machine)."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return "none"


def today() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def collect(threads: int, keras_backend: str) -> dict:
    from .machine import fingerprint
    from .runtime import available_cores, thread_report

    return {
        "machine": fingerprint(),
        "thread_pools": thread_report(threads),
        "date": today(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cores_available": available_cores(),
        "threads": threads,
        "gpu": gpu_name(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "keras_backend": keras_backend,
        "versions": {name: package_version(name) for name in PACKAGES},
    }
