"""`python -m bench run --cluster ADDRESS`: every problem a Ray task, merged into its machine's set as it arrives.

Before anything is timed: the address is reached and the timing slots found
(connect.py), every slot node reports its facts and a node whose code or
framework versions differ from the driver's is refused (node_facts.py), the
nodes are grouped into machine kinds by fingerprint, and each kind's
results/<machine>/ is checked. Then every unit (units.py) of every kind is
submitted at once; Ray runs one per node at a time (the slot) and re-runs one
whose worker or node was lost, up to --retries times, on a node of the same
kind. The driver merges each result as it arrives (merge.py); a task that
still fails has its cases printed "not timed: node lost" with the reason, and
recorded in the kind's logs/cluster-tasks.csv with every task's node, times
and outcome (what bench/analysis/cluster_plan.py reads).
"""

from __future__ import annotations

import contextlib
import json
import signal
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..suite.backend_processes import missing_modules, parse_backends
from .task import node_facts as facts_task, time_unit
from ..suite.options import UsageError
from ..store.layout import claim_machine_dir, machine_dir
from ..store.machine import describe
from ..store.schema import CLUSTER_TASK_COLUMNS as TASK_COLUMNS, CLUSTER_TASKS
from ..store.files import read_csv, write_csv
from ..store.validate import ResultsError, check_results_dir
from . import node_facts
from .connect import connect, slot_nodes
from .merge import code_id, is_held, merge
from .units import Unit, split_k, units

PROBE_TIMEOUT_S = 300  # a node's facts: one short pytest process, after any timing task holding its slot
TASKS_LOG = Path(CLUSTER_TASKS)


@dataclass
class Kind:
    """The slot nodes of one machine kind and where its results go."""

    fingerprint: dict
    directory: Path
    node_ids: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.directory.name

    def selector(self) -> dict:
        """Ray's label selector for these nodes: Ray picks among them, a retry included."""
        return {"ray.io/node-id": f"in({','.join(self.node_ids)})"}


def _node_label(facts: dict) -> str:
    return f"node {facts['node_address']} ({facts['node_id'][:8]})"


def probe(ray, nodes: list[dict], root: Path, here: dict) -> list[Kind]:
    """Every slot node's facts, checked against the driver's (`here`): one line naming the first node that may
    not time (UsageError). The machine kinds."""

    refs = [facts_task.options(label_selector={"ray.io/node-id": n["NodeID"]}).remote() for n in nodes]
    try:
        reports = ray.get(refs, timeout=PROBE_TIMEOUT_S)
    except ray.exceptions.GetTimeoutError:
        raise UsageError(f"--cluster: a node did not report its facts within {PROBE_TIMEOUT_S} s "
                         "(another driver holding its slot?)") from None
    kinds: dict[str, Kind] = {}
    for facts in reports:
        if facts.get("problem"):
            raise UsageError(f"{_node_label(facts)}: {facts['problem']}")
        differences = node_facts.differences(here, facts)
        if differences:
            raise UsageError(f"{_node_label(facts)} refused: {'; '.join(differences)}; every node must run the "
                             "driver's commit and framework versions")
        key = json.dumps(facts["fingerprint"], sort_keys=True)
        if key not in kinds:
            kinds[key] = Kind(facts["fingerprint"], machine_dir(root, facts["fingerprint"]))
        kinds[key].node_ids.append(facts["node_id"])
        kinds[key].addresses.append(facts["node_address"])
    return list(kinds.values())


def thread_counts(args, kind: Kind) -> list[int]:
    """As bench/suite/backend_processes.py thread_counts, with the kind's cores: the full profile sweeps 1 .. cores."""
    if args.profile == "full":
        return sorted({args.threads, *range(1, int(kind.fingerprint.get("cores") or 1) + 1)})
    return [args.threads]


def finished_units(kind: Kind) -> set[tuple[str, str]]:
    """(unit label, code) of every task that finished into the kind's directory (its task log)."""
    path = kind.directory / TASKS_LOG
    return {(r["unit"], r["code"]) for r in read_csv(path) if r["outcome"] == "ok"} if path.exists() else set()


def plan(args, kinds: list[Kind], expression: str | None, facts: dict) -> list[tuple[Kind, Unit]]:
    """Every (kind, unit) to run; with --resume, less the units a kind's directory already holds from this code."""
    backends = [b for b in parse_backends(args.backends) if not missing_modules(b)]
    if not backends:
        raise UsageError(f"--backends {args.backends}: none of them is installed")
    out, held = [], 0
    for kind in kinds:
        try:
            check_results_dir(kind.directory, writing=True)  # the files on record, before any timing
        except ResultsError as e:
            raise UsageError(str(e)) from None
        gpu = kind.fingerprint.get("gpu") not in (None, "", "none")
        finished = finished_units(kind) if args.resume else set()
        for unit in units(args.profile, args.compile, backends, thread_counts(args, kind), expression, gpu):
            if args.resume and is_held(kind.directory, unit, facts, finished):
                held += 1
            else:
                out.append((kind, unit))
    if args.resume:
        print(f"--resume: {held} problem(s) already held from code {code_id(facts)}; {len(out)} to run", flush=True)
    return out


@contextlib.contextmanager
def interrupts_after():
    """Ctrl-C while a result is being merged takes effect once it is merged, never half-way."""
    caught = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def _record(kind: Kind, row: dict) -> None:
    """One line of the kind's task log (logs/cluster-tasks.csv), kept across runs."""
    path = claim_machine_dir(kind.directory, kind.fingerprint) / TASKS_LOG
    earlier = read_csv(path) if path.exists() else []
    path.parent.mkdir(parents=True, exist_ok=True)
    write_csv(path, [*earlier, row], TASK_COLUMNS)


def _lost_reason(ray, error: Exception) -> str:
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    kind = "task failed" if isinstance(error, ray.exceptions.RayTaskError) else "node lost"
    return f"{kind}: {type(error).__name__}" + (f" ({first[:200]})" if first else "")


def run_units(ray, args, todo: list[tuple[Kind, Unit]], pytest_args: list[str], code: str) -> int:

    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    root = Path(args.results_dir)
    pending = {}
    for kind, unit in todo:
        ref = time_unit.options(label_selector=kind.selector(), max_retries=args.retries).remote(
            unit, pytest_args, args.blocks)
        pending[ref] = (kind, unit, time.time())
    kinds = {kind.name: kind for kind, _ in todo}
    print(f"submitted {len(pending)} task(s) to {sum(len(k.node_ids) for k in kinds.values())} slot node(s)", flush=True)
    failed, overheads, merged, reniced = 0, [], {}, set()
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)  # short waits: Ctrl-C is seen
            for ref in done:
                kind, unit, submitted = pending.pop(ref)
                with interrupts_after():
                    try:
                        result = ray.get(ref)
                    except ray.exceptions.RayError as e:
                        reason = _lost_reason(ray, e)
                        failed += 1
                        for case_id in unit.case_ids:
                            print(f"[{kind.name}] {case_id}: not timed: {reason}", file=sys.stderr, flush=True)
                        _record(kind, {"run_started": started, "code": code, "unit": unit.label, "keras_backend": unit.keras_backend,
                                       "threads": unit.threads, "node_id": "", "node_address": "",
                                       "submitted": submitted, "start": "", "end": "", "arrived": time.time(),
                                       "pytest_s": "", "returncode": "", "rows": 0, "outcome": f"not timed: {reason}"})
                        continue
                    directory, rows = merge(root, result)
                    ok = result["returncode"] in (0, 1)
                    outcome = "ok" if result["returncode"] == 0 else f"pytest exit {result['returncode']}"
                    failed += result["returncode"] != 0
                    _record(kind, {"run_started": started, "code": code, "unit": unit.label, "keras_backend": unit.keras_backend,
                                   "threads": unit.threads, "node_id": result["node_id"],
                                   "node_address": result["node_address"], "submitted": submitted,
                                   "start": result["start"], "end": result["end"], "arrived": time.time(),
                                   "pytest_s": result["pytest_s"], "returncode": result["returncode"], "rows": rows,
                                   "outcome": outcome})
                overheads.append(result["end"] - result["start"] - result["pytest_s"])
                merged[kind.name] = merged.get(kind.name, 0) + rows
                where = f"merged {rows} row(s) into {directory}/" if rows else "nothing to merge"
                print(f"[{kind.name}] {unit.label}: {result['end'] - result['start']:.0f} s on node "
                      f"{result['node_address']} ({result['node_id'][:8]}), {outcome}; {where}", flush=True)
                if not ok:
                    print(result["log_tail"], file=sys.stderr, flush=True)
                niceness = max((e.get("niceness") or 0 for e in result["environments"]), default=0)
                if niceness > 0 and kind.name not in reniced:  # once per kind: its nodes are started alike
                    reniced.add(kind.name)
                    print(f"[{kind.name}] timed at nice {niceness}: other work on node {result['node_address']} "
                          "takes the CPU first; start its nodes with RAY_worker_niceness=0 (docs/commands.md)",
                          file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        kept = ", ".join(f"{n} row(s) in {name}/" for name, n in merged.items()) or "nothing"
        print(f"interrupted: {len(pending)} task(s) not finished merge nothing; every finished task is merged "
              f"({kept}); --resume skips what is held", file=sys.stderr, flush=True)
        return 2
    if overheads:
        print(f"Ray overhead inside each task (task time outside pytest): median {statistics.median(overheads):.3f} s; "
              f"per-task times in each machine directory's {TASKS_LOG}", flush=True)
    if failed:
        print(f"{failed} task(s) did not finish cleanly (above)", file=sys.stderr)
        return 1
    return 0


def run_on_cluster(args) -> int:
    """The command: connect, probe, plan, run; Ray shut down at the end whatever happens."""
    expression, pytest_args = split_k(list(args.pytest_args))
    if args.retries < 0:
        raise UsageError(f"--retries must be 0 or more; got {args.retries}")
    facts = node_facts.code_facts()
    ray = connect(args.cluster)
    try:
        kinds = probe(ray, slot_nodes(ray), Path(args.results_dir), facts)
        for kind in kinds:
            print(f"{kind.name}: {describe(kind.fingerprint)}; {len(kind.node_ids)} slot node(s) "
                  f"({', '.join(kind.addresses)})", flush=True)
        todo = plan(args, kinds, expression, facts)
        if not todo:
            print("nothing to run")
            return 0
        return run_units(ray, args, todo, pytest_args, code_id(facts))
    finally:
        ray.shutdown()
