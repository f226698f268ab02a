"""Which machine a result set belongs to: a fingerprint per slice, a short name per fingerprint,
and the refusal to mix two machines in one set.

Timings from two CPUs are two result sets (docs/results.md, "One result set per machine"). Every
slice in environment.json records the fingerprint of the machine that
measured it (CPU model, cores, memory, GPU); a run into a results directory
whose slices came from another machine is refused before anything is
measured or written. By default each machine gets its own directory,
results/<machine name>/ (bench/store/layout.py), so that refusal only meets
a user who names a directory by hand.

Nothing here imports a framework: the check runs in pytest_configure, before
threads are fixed.

TDBENCH_TEST_MACHINE (a JSON fingerprint) stands in for this machine's, for
tdbench's own tests only: it is honoured only inside a pytest process and only
for a fingerprint whose cpu starts with "Test ", so it can never pass for a
real machine and mix two machines' timings.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import sys
from pathlib import Path

from .results import load_environment

FIELDS = ("cpu", "cores", "memory_gib", "gpu")
MACHINE_FILE = "machine.json"  # in a machine directory: whose it is (bench/store/layout.py)


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


TEST_MACHINE_VARIABLE = "TDBENCH_TEST_MACHINE"
TEST_CPU_PREFIX = "Test "


def _test_fingerprint(text: str) -> dict:
    """The fingerprint TDBENCH_TEST_MACHINE gives, or OtherMachine saying why it is refused."""
    if "pytest" not in sys.modules:
        raise OtherMachine(f"{TEST_MACHINE_VARIABLE} is for tdbench's own tests (a pytest process); unset it")
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not (isinstance(value, dict) and set(value) == set(FIELDS)
            and str(value["cpu"]).startswith(TEST_CPU_PREFIX)):
        raise OtherMachine(f"{TEST_MACHINE_VARIABLE}: expected a JSON object with exactly {', '.join(FIELDS)} "
                           f"and a cpu starting with {TEST_CPU_PREFIX!r}, got {text!r}")
    return value


def fingerprint() -> dict:
    override = os.environ.get(TEST_MACHINE_VARIABLE)
    if override:
        return _test_fingerprint(override)
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "memory_gib": memory_gib(), "gpu": gpu_model()}


# Words of a CPU or GPU model that name no model: "Intel(R) Xeon(R) CPU @ 2.20GHz" -> intel-xeon.
_NOISE_WORDS = {"r", "tm", "cpu", "processor", "core", "with", "radeon", "graphics", "ghz"}


def _slug(model: str, words: int = 3) -> str:
    """A model string as a few lower-case words joined by '-' (at most `words`; clock speeds dropped)."""
    model = re.sub(r"\(r\)|\(tm\)|@.*$|\d+(\.\d+)?\s*ghz", " ", str(model).lower())
    kept = [w for w in re.split(r"[^a-z0-9]+", model) if w and w not in _NOISE_WORDS]
    return "-".join(kept[:words]) or "unknown"


def machine_name(machine: dict) -> str:
    """A short readable name for a fingerprint: GPU (or CPU) model, cores, memory.

    intel-xeon-2c-24g, amd-epyc-2c-24g, nvidia-h200-16c-126g. Two fingerprints
    that differ only where the name cannot show (two CPU models with the same
    first words) get the same base name; layout.machine_dir tells them apart
    with name_with_digest.
    """
    gpu = machine.get("gpu")
    model = gpu if gpu not in (None, "", "none") else machine.get("cpu", "unknown")
    memory = machine.get("memory_gib")
    return f"{_slug(model)}-{machine.get('cores', '?')}c" + (f"-{memory}g" if memory is not None else "")


def name_with_digest(machine: dict) -> str:
    """machine_name with a digest of the whole fingerprint: unique to it whatever else shares the base name."""
    canonical = json.dumps({k: machine.get(k) for k in FIELDS}, sort_keys=True)
    return f"{machine_name(machine)}-{hashlib.sha256(canonical.encode()).hexdigest()[:6]}"


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


def claimed_by(directory: Path) -> dict | None:
    """The fingerprint a machine directory's machine.json names (bench/store/layout.py); None without one.
    A damaged machine.json is a ValueError naming it."""
    path = Path(directory) / MACHINE_FILE
    if not path.is_file():
        return None
    try:
        fingerprint = json.loads(path.read_text())["fingerprint"]
    except (OSError, ValueError, KeyError, TypeError):
        fingerprint = None
    if not isinstance(fingerprint, dict):
        raise ValueError(f"{path}: expected {{\"name\": ..., \"fingerprint\": {{...}}}}; the file is damaged")
    return fingerprint


def check_same_machine(results_dir: Path, here: dict | None = None) -> None:
    """Raise OtherMachine (one line, naming both machines) if any slice of `results_dir` is from elsewhere."""
    here = fingerprint() if here is None else here
    try:
        slices = load_environment(Path(results_dir))["slices"]
    except ValueError as e:
        raise OtherMachine(str(e)) from e
    try:
        claimed = claimed_by(Path(results_dir))
    except ValueError as e:
        raise OtherMachine(str(e)) from None
    if claimed and not same_machine(claimed, here):
        raise OtherMachine(
            f"{results_dir}: its machine.json says it holds {describe(claimed)}'s results, this machine is "
            f"{describe(here)}; results from two machines are not merged: use another --results-dir"
        )
    for name, environment in sorted(slices.items()):
        recorded = slice_machine(environment) if isinstance(environment, dict) else None
        if recorded and not same_machine(recorded, here):
            raise OtherMachine(
                f"{results_dir}: its slice '{name}' was measured on {describe(recorded)}, this machine is "
                f"{describe(here)}; results from two machines are not merged: use another --results-dir"
            )
