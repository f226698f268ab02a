"""What the driver does with a finished task: merge it into its machine's result set; and what --resume skips.

A task's rows and raw rounds go into results/<machine>/ of the fingerprint its
own pytest run recorded (bench/store/layout.py), by the same two calls a
local run ends with (bench/suite/session.py BenchSession.save): save_run's
case-wise merge of its rows and raw rounds, as one set. Each finished task is merged when it arrives, so
an interrupted driver keeps every task that finished before.

A problem timed in several processes (`--processes N`, one task each) is
merged once, when the last of its processes has arrived: `combined` makes
its N results one, by bench/analysis/processes.py, as a local `bench run
--processes N` does. Until then nothing of it is merged, so a problem whose
rows are on record is one combined from every process.
`bench stability --cluster` merges each task into its run's directory instead (`into`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..analysis.processes import combine_measured
from ..analysis.save import save_run
from ..store import raw
from ..store.layout import claim_machine_dir, machine_dir
from ..store.results import load_benchmarks, load_environment
from ..store.schema import case_key, slice_name
from .units import Unit


def _entries(result: dict) -> list[dict]:
    return [entry for doc in result["raw"] for entry in doc["benchmarks"]]


def merge(root: Path, result: dict, into: Path | None = None) -> tuple[Path | None, int]:
    """(the directory, rows merged) for a task's result, or a problem's `combined` one: merged into the
    machine directory under `root` of the fingerprint it was measured on, or into `into` (a stability run's
    directory); (None, 0) when it measured nothing."""
    if not result["rows"]:
        return None, 0
    (environment,) = result["environments"]  # a unit is one slice
    directory = into or claim_machine_dir(machine_dir(root, environment["machine"]), environment["machine"])
    version = next((doc["version"] for doc in result["raw"]), "")
    save_run(directory, result["rows"], environment, _entries(result), version)
    return directory, len(result["rows"])


def combined(results: list[dict]) -> dict:
    """The results of a problem's processes (process 1 first) as one result, shaped as a task's: one row and
    one raw entry per case, its blocks labelled with their process (bench/analysis/processes.py)."""
    measured = [r for r in results if r["rows"]]
    if len(measured) < len(results):  # the untimed path (--benchmark-disable): nothing to combine
        return {"rows": [], "environments": [], "raw": []}
    rows, entries, environment = combine_measured(
        [(r["rows"], _entries(r), next(iter(r["environments"]))) for r in measured])
    version = next((doc["version"] for r in measured for doc in r["raw"]), "")
    return {"rows": rows, "environments": [environment], "raw": [{"benchmarks": entries, "version": version}]}


def slice_of_unit(unit: Unit) -> str:
    return slice_name((unit.keras_backend, unit.device, unit.profile, unit.compile, str(unit.threads)))


def code_id(facts: dict) -> str:
    """The commit, and for a dirty tree the digest of its diff (node_facts.py): what resuming must match."""
    return f"{facts['code']} diff {facts['changes']}" if facts["changes"] else str(facts["code"])


@dataclass
class OnRecord:
    """What a machine directory holds, read once for every unit --resume asks about."""

    slices: dict
    rows: list[dict]
    rounds: dict

    @classmethod
    def read(cls, directory: Path) -> "OnRecord | None":
        if not Path(directory).is_dir():
            return None
        return cls(load_environment(directory)["slices"], load_benchmarks(directory), raw.load(directory))

    def processes(self, rows: list[dict]) -> int:
        """The processes the rounds of `rows` (a problem's) were timed in: the most distinct block_process
        labels of any of them (1 for rounds of one process), 0 when none has rounds on record."""
        counts = [len(set(getattr(self.rounds[case_key(r)], "processes", [0]))) for r in rows
                  if case_key(r) in self.rounds]
        return max(counts, default=0)


def is_held(directory: Path, unit: Unit, facts: dict, finished: set[tuple[str, str]],
            record: OnRecord | None = None) -> bool:
    """Whether `directory` (read as `record`, when given) already holds a row of every case of `unit`, in a
    slice timed by the driver's code, timed in as many processes as the unit asks for.

    The unit must be in `finished`, the (unit label, code_id) of the tasks that finished into this
    directory (its task log; a problem of several processes is there once combined and merged, under
    the problem's own label): a slice's environment.json names only the code of its last merge, while
    its other problems' rows may come from an earlier run of other code.
    Rows of one process do not hold a problem asked of N, nor N processes' rows one asked of one; a
    problem of several processes is merged only once combined, so rows on record are never part of one.
    """
    if not facts["code"] or (unit.label, code_id(facts)) not in finished:
        return False
    record = record if record is not None else OnRecord.read(directory)
    if record is None:
        return False
    environment = record.slices.get(slice_of_unit(unit))
    if not environment or environment.get("code") != facts["code"]:
        return False
    columns = ("topology", "framework", "head", "mode", "device", "size", "compile", "keras_backend", "profile", "threads")
    wanted = {(case.topology, case.framework, case.head, case.mode, case.device, case.size.label, case.compile,
               unit.keras_backend, unit.profile, str(unit.threads)) for case in unit.cases}
    rows = [r for r in record.rows if tuple(str(r[c]) for c in columns) in wanted]
    if {tuple(str(r[c]) for c in columns) for r in rows} != wanted:
        return False
    return record.processes(rows) in (0, unit.processes)  # 0: no rounds on record, nothing to tell
