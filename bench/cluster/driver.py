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

With `--processes N` each problem is N tasks, one per process, on nodes of
its kind, submitted process by process (every problem's first process, then
every problem's second...), so that a problem's processes lie apart in time
as a local run's do. When the last of them arrives the driver combines them
(merge.py combined: bench/analysis/processes.py) and merges the problem once.

`bench stability --cluster` (stability_runs) takes each of its runs as such
a run of one slice on a cluster of one machine kind, merged into the run's
own directory.
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
from .merge import OnRecord, code_id, combined, is_held, merge
from .units import Unit, split_k, units

PROBE_TIMEOUT_S = 300  # a node's facts: one short pytest process, after any timing task holding its slot
TASKS_LOG = Path(CLUSTER_TASKS)
# A task log row that is no task: a problem's processes combined and merged (its nodes, no start or end).
COMBINED = "combined"


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
    """(unit label, code) of every task that finished into the kind's directory, and of every problem
    whose processes were combined there (its task log)."""
    path = kind.directory / TASKS_LOG
    return {(r["unit"], r["code"]) for r in read_csv(path) if r["outcome"] in ("ok", COMBINED)} if path.exists() else set()


def checked(kind: Kind) -> None:
    """The kind's files on record, checked before any timing (UsageError)."""
    try:
        check_results_dir(kind.directory, writing=True)
    except ResultsError as e:
        raise UsageError(str(e)) from None


def is_gpu(kind: Kind) -> bool:
    return kind.fingerprint.get("gpu") not in (None, "", "none")


def plan(args, kinds: list[Kind], expression: str | None, facts: dict) -> list[tuple[Kind, Unit]]:
    """Every (kind, problem) to run; with --resume, less the problems a kind's directory already holds from this
    code (timed in --processes processes)."""
    backends = [b for b in parse_backends(args.backends) if not missing_modules(b)]
    if not backends:
        raise UsageError(f"--backends {args.backends}: none of them is installed")
    out, held = [], 0
    for kind in kinds:
        checked(kind)
        finished = finished_units(kind) if args.resume else set()
        record = OnRecord.read(kind.directory) if args.resume else None
        for unit in units(args.profile, args.compile, backends, thread_counts(args, kind), expression, is_gpu(kind),
                          args.processes):
            if args.resume and is_held(kind.directory, unit, facts, finished, record):
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


@dataclass
class Problem:
    """One problem of one kind on its way: the results of its processes so far, or why it will not be merged."""

    kind: Kind
    unit: Unit
    results: dict[int, dict] = field(default_factory=dict)  # process -> its task's result
    lost: str = ""


class UnitsRun:
    """A set of (kind, problem) submitted as tasks, and each result merged as it arrives.

    Results go into each kind's machine directory under args.results_dir, or all into `into` (a stability
    run's directory); `tag` prefixes the units' labels in the task log (a stability run's tasks are no
    problem --resume may find held).
    """

    def __init__(self, ray, args, todo: list[tuple[Kind, Unit]], pytest_args: list[str], code: str,
                 into: Path | None = None, tag: str = ""):
        self.ray, self.args, self.pytest_args, self.code, self.into, self.tag = ray, args, pytest_args, code, into, tag
        self.problems = {(kind.name, unit): Problem(kind, unit) for kind, unit in todo}
        self.started = time.strftime("%Y-%m-%dT%H:%M:%S")
        self.pending: dict = {}
        self.failed, self.overheads, self.merged, self.reniced = 0, [], {}, set()

    def submit(self) -> None:
        """Every problem's process 1, then every problem's process 2, ...: a problem's processes apart in time."""
        processes = max((p.unit.processes for p in self.problems.values()), default=1)
        for i in range(processes):
            for problem in self.problems.values():
                units_of = problem.unit.in_processes()
                if i < len(units_of):
                    ref = time_unit.options(label_selector=problem.kind.selector(), max_retries=self.args.retries).remote(
                        units_of[i], self.pytest_args, self.args.blocks, self.args.precision)
                    self.pending[ref] = (problem, units_of[i], time.time())
        nodes = sum(len(k.node_ids) for k in {p.kind.name: p.kind for p in self.problems.values()}.values())
        print(f"submitted {len(self.pending)} task(s) to {nodes} slot node(s)", flush=True)

    def record(self, kind: Kind, unit: Unit, **row) -> None:
        label = f"{self.tag}: {unit.label}" if self.tag else unit.label
        _record(kind, {"run_started": self.started, "code": self.code, "unit": label, "keras_backend": unit.keras_backend,
                       "threads": unit.threads, "node_id": "", "node_address": "", "start": "", "end": "",
                       "arrived": time.time(), "pytest_s": "", "returncode": "", "rows": 0, **row})

    def lose(self, problem: Problem, reason: str) -> None:
        """The problem will not be merged: each of its cases said not timed, its other tasks cancelled.

        A problem of several processes whose process failed is not merged from the others: a local
        `bench run --processes N` merges nothing when a process fails, and a combination of fewer
        processes than asked would publish an interval whose between-process variance rests on fewer
        processes (on one, on none), while --resume would take the problem as held. Its cases keep
        the rows they had; the next run (--resume) times the whole problem again.
        """
        if problem.lost:
            return
        problem.lost = reason
        for case_id in problem.unit.case_ids:
            print(f"[{problem.kind.name}] {case_id}: not timed: {reason}", file=sys.stderr, flush=True)
        for ref, (other, _, _) in list(self.pending.items()):
            if other is problem:  # its slot freed now rather than after a process that merges nothing
                with contextlib.suppress(self.ray.exceptions.RayError):
                    self.ray.cancel(ref, force=True)

    def arrived(self, ref) -> None:
        problem, unit, submitted = self.pending.pop(ref)
        kind, several = problem.kind, unit.processes > 1
        which = f" in process {unit.process}/{unit.processes}" if several else ""
        try:
            result = self.ray.get(ref)
        except self.ray.exceptions.RayError as e:
            if problem.lost:  # cancelled (or lost) after another process of its problem failed
                self.record(kind, unit, submitted=submitted, outcome=f"cancelled: {problem.lost}")
                return
            reason = _lost_reason(self.ray, e)
            self.failed += 1
            self.record(kind, unit, submitted=submitted, outcome=f"not timed: {reason}")
            self.lose(problem, reason + (f"{which}; no process of this problem is merged" if several else ""))
            return
        rc = result["returncode"]
        outcome = "ok" if rc == 0 else f"pytest exit {rc}"
        self.failed += rc != 0
        self.overheads.append(result["end"] - result["start"] - result["pytest_s"])
        task = dict(node_id=result["node_id"], node_address=result["node_address"], submitted=submitted,
                    start=result["start"], end=result["end"], pytest_s=result["pytest_s"], returncode=rc)
        on = f"{result['end'] - result['start']:.0f} s on node {result['node_address']} ({result['node_id'][:8]})"
        self.say_niceness(kind, result)
        if not several:  # one process: merged as it is (a failed test's rows too, as a local run saves them)
            directory, rows = merge(Path(self.args.results_dir), result, self.into) if rc in (0, 1) else (None, 0)
            self.record(kind, unit, **task, rows=rows, outcome=outcome)
            self.merged[kind.name] = self.merged.get(kind.name, 0) + rows
            where = f"merged {rows} row(s) into {directory}/" if rows else "nothing to merge"
            print(f"[{kind.name}] {unit.label}: {on}, {outcome}; {where}", flush=True)
            if rc not in (0, 1):
                print(result["log_tail"], file=sys.stderr, flush=True)
            return
        if problem.lost:
            self.record(kind, unit, **task, outcome=f"discarded: {problem.lost}")
            return
        self.record(kind, unit, **task, outcome=outcome)
        if rc != 0:  # as a local run: a process that fails stops its problem (nothing merged)
            print(f"[{kind.name}] {unit.label}: {on}, {outcome}", flush=True)
            print(result["log_tail"], file=sys.stderr, flush=True)
            self.lose(problem, f"pytest exit {rc}{which}; no process of this problem is merged")
            return
        problem.results[unit.process] = result
        print(f"[{kind.name}] {unit.label}: {on}, {outcome}; {len(problem.results)} of {unit.processes} "
              "process(es) in", flush=True)
        if len(problem.results) == unit.processes:
            self.combine(problem)

    def say_niceness(self, kind: Kind, result: dict) -> None:
        """Once per kind (its nodes are started alike): a task timed above nice 0 gave the CPU to other work."""
        niceness = max((e.get("niceness") or 0 for e in result["environments"]), default=0)
        if niceness > 0 and kind.name not in self.reniced:
            self.reniced.add(kind.name)
            print(f"[{kind.name}] timed at nice {niceness}: other work on node {result['node_address']} takes the "
                  "CPU first; start its nodes with RAY_worker_niceness=0 (docs/commands.md)", file=sys.stderr, flush=True)

    def combine(self, problem: Problem) -> None:
        results = [problem.results[i] for i in sorted(problem.results)]
        directory, rows = merge(Path(self.args.results_dir), combined(results), self.into)
        self.record(problem.kind, problem.unit, node_id=" ".join(r["node_id"] for r in results),
                    node_address=" ".join(r["node_address"] for r in results), submitted="", rows=rows,
                    returncode=0, outcome=COMBINED)
        self.merged[problem.kind.name] = self.merged.get(problem.kind.name, 0) + rows
        where = f"merged {rows} row(s) into {directory}/" if rows else "nothing to merge"
        nodes = ", ".join(sorted({r["node_address"] + f" ({r['node_id'][:8]})" for r in results}))
        print(f"[{problem.kind.name}] {problem.unit.label}: {len(results)} processes combined (node(s) {nodes}); "
              f"{where}", flush=True)
        problem.results.clear()  # their rounds are merged: not held twice

    def run(self) -> int:
        self.submit()
        try:
            while self.pending:
                done, _ = self.ray.wait(list(self.pending), num_returns=1, timeout=1.0)  # short waits: Ctrl-C is seen
                for ref in done:
                    with interrupts_after():
                        self.arrived(ref)
        except KeyboardInterrupt:
            kept = ", ".join(f"{n} row(s) in {name}/" for name, n in self.merged.items()) or "nothing"
            held = sum(bool(p.results) for p in self.problems.values())
            partly = f" ({held} problem(s) with only some processes in: none of their processes is merged)" if held else ""
            resume = "" if self.into else "; --resume skips what is held"
            print(f"interrupted: {len(self.pending)} task(s) not finished merge nothing{partly}; every problem "
                  f"finished is merged ({kept}){resume}", file=sys.stderr, flush=True)
            return 2
        if self.overheads:
            print(f"Ray overhead inside each task (task time outside pytest): median {statistics.median(self.overheads):.3f} s; "
                  f"per-task times in each machine directory's {TASKS_LOG}", flush=True)
        lost = sum(bool(p.lost) for p in self.problems.values() if p.unit.processes > 1)
        if self.failed or lost:
            not_merged = f"; {lost} problem(s) of several processes not merged" if lost else ""
            print(f"{self.failed} task(s) did not finish cleanly (above){not_merged}", file=sys.stderr)
            return 1
        return 0


@contextlib.contextmanager
def connected(args, facts: dict):
    """(ray, the machine kinds) of the cluster at args.cluster, each kind printed; Ray shut down at the end
    whatever happens."""
    if args.retries < 0:
        raise UsageError(f"--retries must be 0 or more; got {args.retries}")
    ray = connect(args.cluster)
    try:
        kinds = probe(ray, slot_nodes(ray), Path(args.results_dir), facts)
        for kind in kinds:
            print(f"{kind.name}: {describe(kind.fingerprint)}; {len(kind.node_ids)} slot node(s) "
                  f"({', '.join(kind.addresses)})", flush=True)
        yield ray, kinds
    finally:
        ray.shutdown()


def run_on_cluster(args) -> int:
    """The command: connect, probe, plan, run."""
    expression, pytest_args = split_k(list(args.pytest_args))
    facts = node_facts.code_facts()
    with connected(args, facts) as (ray, kinds):
        todo = plan(args, kinds, expression, facts)
        if not todo:
            print("nothing to run")
            return 0
        return UnitsRun(ray, args, todo, pytest_args, code_id(facts)).run()


def stability_runs(args, run_dirs: list[Path]) -> Kind:
    """`bench stability --cluster`: the slice (args.keras_backend, compile, threads, profile, -k) timed once into
    each of `run_dirs`, one run after another, each run's problems as tasks on the cluster's nodes; the machine
    kind that timed them (a set of runs is one machine's: a cluster of two kinds is refused, one line)."""
    expression, pytest_args = split_k(list(args.pytest_args))
    facts = node_facts.code_facts()
    with connected(args, facts) as (ray, kinds):
        if len(kinds) > 1:
            raise UsageError(f"stability --cluster: the cluster's timing nodes are {len(kinds)} machine kinds "
                             f"({', '.join(k.name for k in kinds)}); a stability set measures one machine, so give "
                             "it a cluster whose timing nodes are of one kind")
        (kind,) = kinds
        checked(kind)
        problems = units(args.profile, args.compile, [args.keras_backend], [args.threads], expression, is_gpu(kind))
        if not problems:
            raise UsageError(f"-k {expression}: selects no problem of the {args.profile} profile")
        for i, run_dir in enumerate(run_dirs, 1):
            start = time.perf_counter()
            tag = f"stability run {i}/{len(run_dirs)}"
            print(f"--- {tag}: {len(problems)} problem(s) ---", flush=True)
            rc = UnitsRun(ray, args, [(kind, u) for u in problems], pytest_args, code_id(facts), run_dir, tag).run()
            if rc == 2:
                raise KeyboardInterrupt
            if rc != 0:
                raise UsageError(f"run {i} failed: a task did not finish cleanly (above; {kind.directory / TASKS_LOG})")
            print(f"run {i} of {len(run_dirs)}: {time.perf_counter() - start:.0f} s, {run_dir}", flush=True)
        return kind
