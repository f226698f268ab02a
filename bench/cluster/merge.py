"""What the driver does with a finished task: merge it into its machine's result set; and what --resume skips.

A task's rows and raw rounds go into results/<machine>/ of the fingerprint its
own pytest run recorded (bench/store/layout.py), by the same two calls a
local run ends with (bench/suite/session.py BenchSession.save): save_run's
case-wise merge of its rows and raw rounds, as one set. Each finished task is merged when it arrives, so
an interrupted driver keeps every task that finished before.
"""

from __future__ import annotations

from pathlib import Path

from ..analysis.save import save_run
from ..store.layout import claim_machine_dir, machine_dir
from ..store.results import load_benchmarks, load_environment
from ..store.schema import slice_name
from .units import Unit


def merge(root: Path, result: dict) -> tuple[Path | None, int]:
    """(the machine directory, rows merged) for a task's result; (None, 0) when it measured nothing."""
    if not result["rows"]:
        return None, 0
    (environment,) = result["environments"]  # a unit is one slice
    directory = claim_machine_dir(machine_dir(root, environment["machine"]), environment["machine"])
    entries = [entry for doc in result["raw"] for entry in doc["benchmarks"]]
    version = next((doc["version"] for doc in result["raw"]), "")
    save_run(directory, result["rows"], environment, entries, version)
    return directory, len(result["rows"])


def slice_of_unit(unit: Unit) -> str:
    return slice_name((unit.keras_backend, unit.device, unit.profile, unit.compile, str(unit.threads)))


def code_id(facts: dict) -> str:
    """The commit, and for a dirty tree the digest of its diff (node_facts.py): what resuming must match."""
    return f"{facts['code']} diff {facts['changes']}" if facts["changes"] else str(facts["code"])


def is_held(directory: Path, unit: Unit, facts: dict, finished: set[tuple[str, str]]) -> bool:
    """Whether `directory` already holds a row of every case of `unit`, timed by a task of the driver's code.

    `finished` is the (unit label, code_id) of the tasks that finished into this directory (its task log).
    The task log decides, not environment.json: a slice's environment records the code of its last merge,
    while its other problems' rows may come from an earlier run of other code.
    """
    if not facts["code"] or not Path(directory).is_dir() or (unit.label, code_id(facts)) not in finished:
        return False
    environment = load_environment(directory)["slices"].get(slice_of_unit(unit))
    if not environment or environment.get("code") != facts["code"]:
        return False
    columns = ("topology", "framework", "head", "mode", "device", "size", "compile", "keras_backend", "profile", "threads")
    have = {tuple(str(r[c]) for c in columns) for r in load_benchmarks(directory)}
    return all((case.topology, case.framework, case.head, case.mode, case.device, case.size.label, case.compile,
                unit.keras_backend, unit.profile, str(unit.threads)) in have for case in unit.cases)
