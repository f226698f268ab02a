"""Where result sets live: results/<machine>/ per machine, the reference set, and which one a command uses.

    results/
      reference.json          {"machine": NAME}: the set the README quotes
      params.csv              parameter counts: the same on every machine
      intel-xeon-2c-24g/      one machine's result set (bench/store/schema.py FILES and the rest)
        machine.json          the fingerprint this directory belongs to
      amd-epyc-2c-24g/ ...

A run writes into the directory of the machine it runs on
(bench/store/machine.py machine_name), created on first use; inside it the
refusal to mix machines stays (machine.check_same_machine). A command that
reads results uses, unless told otherwise, this machine's directory if it
has one, else the reference's, and says which. --results-dir names a
directory outright; --machine NAME picks one under the results root. The
layout is the same whether the sets come from one machine or a cluster.

A results root written before machine directories existed (its files at the
top) is the "flat" layout: it is read as one set with a notice, and
`python -m bench migrate` moves it into its machine's directory.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from . import machine as machines
from .files import atomic_write_text, json_text

RESULTS_ROOT = Path("results")
MACHINE_FILE = machines.MACHINE_FILE
REFERENCE_FILE = "reference.json"
# Files that do not depend on the machine: one in the results root, read by every machine's set.
SHARED_FILES = ("params.csv",)
# A directory holding one of these at its top is a result set (flat layout, when it is the root).
SET_MARKERS = ("benchmarks.csv", "environment.json", "comparison.csv", "td_tax.csv")


class LayoutError(ValueError):
    """A machine name or results root that cannot be used; the message is one line."""


def recorded_machine(directory: Path) -> dict | None:
    """The fingerprint a result set belongs to: its machine.json, else its first slice's; None if it has neither."""
    try:
        claimed = machines.claimed_by(directory)
    except ValueError as e:
        raise LayoutError(str(e)) from None
    if claimed is not None:
        return claimed
    env_path = Path(directory) / "environment.json"
    if env_path.is_file():
        try:
            slices = json.loads(env_path.read_text()).get("slices", {})
        except (ValueError, AttributeError, OSError):
            return None  # the validator names that file's problem when it is read
        for environment in slices.values():
            recorded = machines.slice_machine(environment) if isinstance(environment, dict) else None
            if recorded:
                return recorded
    return None


def set_file(directory: Path, name: str) -> Path:
    """A result set's file `name`: its own, else, for a file every machine shares, the results root's."""
    own = Path(directory) / name
    return Path(directory).parent / name if not own.exists() and name in SHARED_FILES else own


def is_result_set(directory: Path) -> bool:
    directory = Path(directory)
    return directory.is_dir() and any((directory / name).exists() for name in (MACHINE_FILE, *SET_MARKERS))


def machine_dirs(root: Path = RESULTS_ROOT) -> dict[str, Path]:
    """name -> directory of every machine's result set under `root`, sorted by name."""
    root = Path(root)
    if not root.is_dir():
        return {}
    return {p.name: p for p in sorted(root.iterdir()) if p.is_dir() and not p.is_symlink() and is_result_set(p)}


def is_flat(root: Path = RESULTS_ROOT) -> bool:
    """The older layout: one set's files directly in the results root."""
    return any((Path(root) / name).is_file() for name in SET_MARKERS)


def machine_dir(root: Path, fingerprint: dict) -> Path:
    """The directory of `fingerprint`'s set under `root`: its readable name, unless another machine holds it."""
    root = Path(root)
    for name in (machines.machine_name(fingerprint), machines.name_with_digest(fingerprint)):
        recorded = recorded_machine(root / name) if (root / name).exists() else None
        if recorded is None or machines.same_machine(recorded, fingerprint):
            return root / name
    raise LayoutError(f"{root}: no free directory name for {machines.describe(fingerprint)}")  # a digest collision


def claim_machine_dir(directory: Path, fingerprint: dict) -> Path:
    """Create `directory` for `fingerprint` and record it in machine.json (kept if already there)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if not (directory / MACHINE_FILE).exists():
        atomic_write_text(directory / MACHINE_FILE, json_text({"name": directory.name, "fingerprint": fingerprint}))
    return directory


def this_machine_dir(root: Path = RESULTS_ROOT) -> Path:
    return machine_dir(root, machines.fingerprint())


def reference_name(root: Path = RESULTS_ROOT) -> str | None:
    """The machine whose set the README quotes (results/reference.json), or None where there is none."""
    path = Path(root) / REFERENCE_FILE
    if not path.is_file():
        return None
    try:
        name = json.loads(path.read_text())["machine"]
    except (ValueError, KeyError, TypeError, OSError):
        raise LayoutError(f"{path}: expected {{\"machine\": NAME}}") from None
    if not isinstance(name, str) or "/" in name or name in ("", ".", ".."):
        raise LayoutError(f"{path}: machine {name!r} is not a directory name")
    return name


def reference_dir(root: Path = RESULTS_ROOT) -> Path | None:
    name = reference_name(root)
    return None if name is None or not (Path(root) / name).is_dir() else Path(root) / name


def named_dir(root: Path, name: str) -> Path:
    """results/NAME, or LayoutError listing the machine directories there are."""
    dirs = machine_dirs(root)
    if name in dirs:
        return dirs[name]
    known = ", ".join(dirs) or "none"
    raise LayoutError(f"--machine {name}: no such machine directory in {root}/ (there: {known})")


@dataclass(frozen=True)
class Chosen:
    """The result set a command uses, and the one line saying why (empty when the user named it)."""

    directory: Path
    note: str = ""

    def tell(self, stream=None) -> Path:
        if self.note:
            print(f"tdbench: {self.note}", file=stream or sys.stderr)
        return self.directory


def set_to_read(results_dir: Path | None = None, machine: str | None = None, root: Path = RESULTS_ROOT) -> Chosen:
    """The set a reading command uses: --results-dir, else --machine, else this machine's, else the reference's."""
    if results_dir is not None:
        if machine is not None:
            raise LayoutError("give --results-dir or --machine, not both")
        return Chosen(Path(results_dir))
    root = Path(root)
    if machine is not None:
        return Chosen(named_dir(root, machine))
    here = this_machine_dir(root)
    if is_result_set(here):
        return Chosen(here, f"reading {here}/ (this machine's results)")
    if is_flat(root):
        return Chosen(root, f"reading {root}/ as one result set (the layout before machine directories); "
                            f"`python -m bench migrate` moves it into {root}/<machine>/")
    reference = reference_dir(root)
    if reference is not None:
        return Chosen(reference, f"reading {reference}/ (the reference machine's results; this machine, "
                                 f"{here.name}, has none yet)")
    raise LayoutError(f"{root}/: no results of this machine ({here.name}) and no reference set; "
                      f"run `pytest bench/ --benchmark-only` first")


def set_to_write(results_dir: Path | None = None, root: Path = RESULTS_ROOT) -> Chosen:
    """The set a timing command writes: --results-dir, else this machine's directory under `root` (created)."""
    if results_dir is not None:
        return Chosen(Path(results_dir))
    here = claim_machine_dir(this_machine_dir(root), machines.fingerprint())
    note = f"writing {here}/ (this machine's results)"
    if is_flat(root):
        note += f"; {root}/ also holds a set in the older flat layout (`python -m bench migrate` moves it)"
    return Chosen(here, note)
