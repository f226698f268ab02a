"""Which machine a result set belongs to: a fingerprint per slice, and the refusal to mix two.

Timings from two CPUs are two result sets (DESIGN.md, "Noise on these
machines"). Every slice in environment.json records the fingerprint of the
machine that measured it (CPU model, cores, memory, GPU); a run into a
results directory whose slices came from another machine is refused before
anything is measured or written. Use another --results-dir per machine.

Nothing here imports a framework: the check runs in pytest_configure, before
threads are fixed.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

FIELDS = ("cpu", "cores", "memory_gib", "gpu")


class OtherMachine(Exception):
    """The results directory holds slices measured on another machine."""


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> int | None:
    """Total memory, whole GiB (the kernel's MemTotal moves by a few MB between boots)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20)
    except (OSError, ValueError, IndexError):
        pass
    return None


def gpu_model() -> str:
    """The first NVIDIA GPU's model from the driver's /proc entry, else "none" (no framework import)."""
    root = Path("/proc/driver/nvidia/gpus")
    try:
        for info in sorted(root.glob("*/information")):
            for line in info.read_text().splitlines():
                if line.startswith("Model:"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "none"


def fingerprint() -> dict:
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "memory_gib": memory_gib(), "gpu": gpu_model()}


def describe(machine: dict) -> str:
    parts = [str(machine.get("cpu", "?")), f"{machine.get('cores', '?')} cores"]
    if machine.get("memory_gib") is not None:
        parts.append(f"{machine['memory_gib']} GiB")
    if machine.get("gpu") not in (None, "none"):
        parts.append(str(machine["gpu"]))
    return ", ".join(parts)


def slice_machine(environment: dict) -> dict | None:
    """A slice's fingerprint; slices saved before fingerprints existed give their cpu and cores."""
    if isinstance(environment.get("machine"), dict):
        return environment["machine"]
    if "cpu" in environment:
        return {k: environment[k] for k in ("cpu", "cores") if k in environment}
    return None


def same_machine(recorded: dict, here: dict) -> bool:
    """Equal on every field the recorded fingerprint has (older slices have fewer)."""
    return all(recorded[k] == here.get(k) for k in FIELDS if k in recorded)


def check_same_machine(results_dir: Path, here: dict | None = None) -> None:
    """Raise OtherMachine (one line, naming both machines) if any slice of `results_dir` is from elsewhere."""
    from .results import load_environment

    here = fingerprint() if here is None else here
    try:
        slices = load_environment(Path(results_dir))["slices"]
    except ValueError as e:
        raise OtherMachine(str(e)) from e
    for name, environment in sorted(slices.items()):
        recorded = slice_machine(environment) if isinstance(environment, dict) else None
        if recorded and not same_machine(recorded, here):
            raise OtherMachine(
                f"{results_dir}: its slice '{name}' was measured on {describe(recorded)}, this machine is "
                f"{describe(here)}; results from two machines are not merged: use another --results-dir"
            )
