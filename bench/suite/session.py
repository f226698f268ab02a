"""One pytest session of the suite: runs cases, keeps their rows, saves them at the end.

Steps and blocks. Each case has a preparation step (build, parity proof,
calibration: rounds of at least --benchmark-min-time, the
--benchmark-max-time budget split over the blocks, at least
--benchmark-min-rounds rounds in all) and is then timed in `blocks` blocks
(--blocks; fewer, spread over the run, for a problem whose slowest call
cannot fill them: Timing.blocks_for). bench/conftest.py makes one pytest
item per case and step and orders them: every case prepared, then block 1 of every case, block 2 of
every case..., a problem's Keras and torch cases side by side in each. The
machine's speed moves between moments of a run (a case's rounds agree
within a few percent while its level moves far more from one moment or
process to the next: docs/methods.md, "Reruns"); timing a case in
one stretch hands the whole move to one arm of a ratio. Blocks of the two
arms seconds apart meet the same moment, blocks of one case spread over the
run meet several, and the spread of the blocks measures what remains
(bench/analysis/stats.py). Every block meets the same process: all cases
are built before the first block and released when the session ends (or
when a compiled problem, timed on its own, starts), and
each block starts with one untimed warm-up call, since the other cases ran
in between: one call
warms the caches as a whole round of calls did, at a fraction of its time. A case's row and raw rounds are written after its last block.
The process itself is pinned to --threads CPUs and glibc malloc's thresholds
are fixed (bench/conftest.py; runtime.pin_cpus, runtime.fix_malloc), so both
arms run on the same CPUs and the same allocator state.
"""

from __future__ import annotations

import math
import os
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_benchmark
from pytest_benchmark.stats import Stats

from .cases import Case
from .options import DEFAULT_BUDGET_SHARE, DEFAULT_PRECISION, DEFAULT_RUN_BUDGET_S, EXTENSION, MIN_BLOCKS
from .harness import (
    CouldNotRun, ParityError, References, case_row, compiler_label, device_unavailable, measured_row,
    prepare, run_counted, use_full_float32,
)
from ..analysis.save import save_run
from ..analysis.precision_budget import line as precision_line, time_to_target
from ..analysis.run_level import level_vs_previous, line as level_line
from ..store.results import load_benchmarks
from ..analysis.stats import paired_half_width
from ..store.raw import entry
from ..store.schema import MEASUREMENT_METHOD
from .environment import code_version, collect
from .peak import peak_gflops, summarise
from .extra_work import with_extra_work
from .phases import PhaseClock, line as phase_line
from .runtime import apply_thread_limits, compile_cache_dir, keep_memory_maps_in_bounds


PREPARE = 0  # a case's step 0 builds, proves and calibrates it, untimed; steps 1..blocks time its blocks


def noise_floor_workload(n: int = 20_000) -> int:
    """About 1 ms of interpreter work touching no framework: what the machine's noise does to any case."""
    total = 0
    for i in range(n):
        total += i * i
    return total


# A problem is timed in fewer blocks than --blocks when its slowest case cannot fill that many with
# ROUNDS_PER_BLOCK rounds within --benchmark-max-time, but never fewer than MIN_BLOCKS (or --blocks,
# if smaller). Every block costs an untimed warm-up call besides its timed ones: a case of 1.6 s
# per call (Keras on JAX, eager) in 40 blocks would take 80 calls where its budget holds one.
ROUNDS_PER_BLOCK = 2
# Seconds kept free of extension blocks before the run's budget: the save and the end peak GEMM.
SAVE_RESERVE_S = 10.0
# Seconds between two reads of /proc/self/maps (runtime.keep_memory_maps_in_bounds): a read costs about
# 3 ms in a process holding every case, and a default run has thousands of block items. The fastest
# growth measured, Keras on JAX without jit_compile, is about 134 mappings per call of about 0.1 s, some
# 1300 a second; the check acts at half the kernel's limit (65530), tens of thousands of mappings ahead.
MAPS_CHECK_S = 1.0


def shared_budget_s(run_budget_s: float, share: float, startup_s: float, reserve_s: float = SAVE_RESERVE_S) -> float:
    """The age a process may reach before its extension blocks end, when it times `share` of a run whose budget
    is `run_budget_s` (--time-budget, else DEFAULT_RUN_BUDGET_S) and whose own start-up took `startup_s`.

    The budget is measured from the process's start, so it holds the process's start-up (imports, framework
    loading, collection) and the reserve for the save and the end peak GEMM (`reserve_s`) besides the
    problems' own time. A local run pays those once for all its problems; a cluster task, one problem in a
    `pytest bench/` of its own (bench/cluster/units.py budget_shares), pays them again. So the task keeps
    its own start-up and reserve whole, and gets `share` (its problem's part of the run's cases) of what
    the run has left for its problems: what the run would give that problem, had it spread its budget
    evenly. The task's start-up stands in for the run's (same node, same imports); what a process pays
    again inside its first preparation (lazy loading) counts as the problem's. Share 1 (a whole run) is
    `run_budget_s` itself.
    """
    fixed_s = startup_s + reserve_s
    return fixed_s + share * (run_budget_s - fixed_s)  # a start-up past the budget leaves no extension either way


@dataclass
class Timing:
    """pytest-benchmark's settings (--benchmark-min-time, -max-time, -min-rounds) and the block count."""

    min_time: float = 0.005
    max_time: float = 1.5
    min_rounds: int = 15
    blocks: int = 1
    disable_gc: bool = False  # --benchmark-disable-gc: Python's collector off during timed rounds
    precision: float = DEFAULT_PRECISION  # --precision: the half-width extension blocks refine a ratio to
    budget_s: float = DEFAULT_RUN_BUDGET_S  # the run's budget: extension blocks end before the process is this old
    share: float = DEFAULT_BUDGET_SHARE  # --budget-share: the part of that run this process times (shared_budget_s)

    @property
    def steps(self) -> int:
        """Block steps a case may run: --blocks, then as many extension blocks again (EXTENSION)."""
        return self.blocks * EXTENSION if self.blocks >= MIN_BLOCKS else self.blocks

    def iterations(self, call_s: float) -> int:
        """Calls per round: enough for a round of --benchmark-min-time."""
        return max(1, math.ceil(self.min_time / max(call_s, 1e-9)))

    def plan(self, call_s: float, blocks: int | None = None) -> tuple[int, int]:
        """(iterations per round, rounds per block) for a call of `call_s` seconds in `blocks` blocks (default: all)."""
        blocks = blocks or self.blocks
        iterations = self.iterations(call_s)
        block_time = self.max_time / blocks
        rounds = max(math.ceil(self.min_rounds / blocks), int(block_time / (iterations * call_s or 1e-9) + 1e-9))
        return iterations, rounds

    def blocks_for(self, slowest_call_s: float) -> int:
        """Blocks for a problem whose slowest case takes `slowest_call_s` per call (MIN_BLOCKS above)."""
        round_s = self.iterations(slowest_call_s) * slowest_call_s
        fill = int(self.max_time / (ROUNDS_PER_BLOCK * max(round_s, 1e-9)) + 1e-9)
        return max(min(self.blocks, MIN_BLOCKS), min(self.blocks, fill))


def timed_in(step: int, blocks: int, steps: int) -> bool:
    """Whether block step `step` (1..steps) is one of the `blocks` a problem is timed in, spread evenly."""
    return step * blocks // steps > (step - 1) * blocks // steps


@dataclass
class OpenCase:
    """A case between its preparation and its last block."""

    case: Case
    prepared: object
    row: dict
    iterations: int
    rounds: int
    call_s: float  # one call, as calibrated: the problem's block count follows its slowest case
    blocks: list = field(default_factory=list)  # each block's seconds per call, one per round
    other_threads_cpu: list = field(default_factory=list)  # per block: CPU seconds of other threads per second
    minor_faults: list = field(default_factory=list)  # per block: minor page faults per call
    started_s: list = field(default_factory=list)  # per block: its start, seconds since the session began
    extra_info: dict = field(default_factory=dict)


def process_age() -> float | None:
    """Seconds since this process started (its imports and collection included), from /proc; None elsewhere."""
    try:
        with open("/proc/self/stat") as f:
            started_ticks = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22, starttime
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return uptime - started_ticks / os.sysconf("SC_CLK_TCK")


def _clocks() -> tuple[float, float, float]:
    return time.perf_counter(), time.process_time(), time.thread_time()


def _minor_faults() -> int:
    """The process's minor page faults so far: a step whose tensors come from
    fresh pages (glibc hands large blocks back to the OS and maps them anew)
    faults on every call; one served from the heap does not."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _other_threads_cpu(before: tuple, after: tuple) -> float:
    """CPU seconds the process's other threads used per second of a block (raw files, per block).

    torch computes on this (the Python) thread, so for its blocks anything
    above 0 is a helper thread competing for the CPU; TensorFlow computes on a
    pool thread while this one waits, so its blocks read close to 1 at one
    thread. This record showed the two arms ran on different threads, hence
    on different vCPUs unless pinned (bench/suite/runtime.py pin_cpus).
    """
    wall, process, thread = (b - a for a, b in zip(before, after))
    return round(max(0.0, process - thread) / wall, 4) if wall > 0 else 0.0


def skip_step(reason: str):
    """Every skip of the suite is raised here: pytest -rs groups skips by reason and the line
    that raised them, so a case's preparation and its blocks count as one entry (bench/conftest.py
    raises a decided skip here too)."""
    pytest.skip(reason)


def calibrate(call, budget_s: float = 0.2) -> float:
    """Median seconds of single calls, over at most 5 calls or `budget_s`."""
    times, end = [], time.perf_counter() + budget_s
    while len(times) < 5 and (not times or time.perf_counter() < end):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


class BenchSession:
    def __init__(self, profile: str, threads: int, keras_backend: str, results_dir: Path, timing: Timing | None = None):
        self.profile, self.threads, self.keras_backend = profile, threads, keras_backend
        self.timing = timing or Timing()
        self._open: dict[str, OpenCase] = {}  # case id -> its state between its preparation and last block
        self._finished: list = []  # prepared cases whose blocks are done, released at the end or before a compiled problem
        self._not_timed: dict[str, str] = {}  # case id -> why its later blocks do not run
        self._problem_blocks: dict[tuple, int] = {}  # (group, compile) -> blocks its cases are timed in
        self._extension_done: dict[tuple, str] = {}  # (group, compile) -> why it gets no more extension blocks
        self._extension_steps: set = set()  # ((group, compile), step): extension blocks its cases run
        self._last_problem: tuple | None = None
        self.results_dir = Path(results_dir)
        self.references = References()
        self.rows: list[dict] = []
        self.raw_entries: list[dict] = []  # every round of every timed case (bench/store/raw.py)
        self._peaks: dict = {}
        self._threads_applied = False
        self._saved: str | None = None
        self.noise_floor: dict | None = None
        self.interrupted = False  # set on Ctrl-C (bench/conftest.py): such a session saves nothing
        self.run_record: dict | None = None  # this process's compile choice and steps (bench/conftest.py)
        self.started = time.monotonic()
        self.jax_cache_clears = 0  # runtime.keep_memory_maps_in_bounds, recorded in environment.json
        self._maps_checked = -math.inf  # time.monotonic() of the last read of /proc/self/maps
        self.code = code_version()  # now, not when saving: the checkout may change while cases run
        self.extra_work: tuple[str, float] | None = None  # --extra-work (bench/suite/extra_work.py)
        self.phases = PhaseClock()  # where the process's wall time goes, recorded beside the slice

    def _start(self) -> None:
        if not self._threads_applied:  # first case: frameworks load now, with our threads
            apply_thread_limits(self.threads)
            self._threads_applied = True

    def peak(self, framework: str, device: str) -> float:
        """The median peak, measured when this framework's first case closes (the end one comes in save)."""
        key = (framework, device)
        if key not in self._peaks:
            self._peaks[key] = {"start": peak_gflops(framework, device)}
        return self._peaks[key]["start"]["median"]

    def run(self, benchmark, case: Case, step: int = PREPARE) -> None:
        """Step 0 builds, proves and calibrates `case` (untimed); step b >= 1 times its block b."""
        self._start()
        self.phases.first_item(process_age)
        if step == PREPARE:
            self._keep_memory_maps_in_bounds()  # before the step: never inside timed rounds
            try:
                with self.phases("prepare"):
                    self._open_case(benchmark, case)
            except Exception as e:  # an error, not a skip: its blocks say so instead of running
                self._not_timed.setdefault(case.id, f"{case.id}: its preparation failed ({type(e).__name__})")
                raise
            return
        reason = self.decided_skip(case, step)
        if reason:
            skip_step(reason)
        if step > self.timing.blocks:  # an extension block: only while the problem needs it and time allows
            reason = self._extension_stop(case, step)
            if reason:
                skip_step(reason)
        if case.id not in self._open:
            skip_step(f"{case.id}: its preparation did not run in this session, so no block of it does")
        state = self._open[case.id]
        blocks = self.blocks_of_problem(case)
        if step <= self.timing.blocks and not timed_in(step, blocks, self.timing.blocks):
            skip_step(self._fewer_blocks_reason())
        if not state.blocks:  # its first block: the rounds for the blocks its problem is timed in
            state.iterations, state.rounds = self.timing.plan(state.call_s, blocks)
        # Only blocks that run: reading /proc/self/maps costs milliseconds in a process this size.
        if case.compile != "on":  # a compiled case's blocks keep the executable they timed
            self._keep_memory_maps_in_bounds()
        benchmark.group = case.group
        benchmark.extra_info.update(state.extra_info, block=step)
        clocks, faults = _clocks(), _minor_faults()
        state.started_s.append(round(time.monotonic() - self.started, 3))
        with self.phases("block_overhead"):
            run_counted(state.prepared, lambda call: (call(), benchmark.pedantic(
                call, rounds=state.rounds, iterations=state.iterations)))
        if benchmark.disabled or benchmark.stats is None:
            self._close(case.id, timed=False)  # --benchmark-disable: the case ran, nothing was timed
            return
        state.blocks.append([float(x) for x in benchmark.stats.stats.data])
        self.phases.timed(sum(state.blocks[-1]) * state.iterations)
        state.other_threads_cpu.append(_other_threads_cpu(clocks, _clocks()))
        calls = len(state.blocks[-1]) * state.iterations + 1  # the warm-up call included
        state.minor_faults.append(round((_minor_faults() - faults) / calls, 2))
        if len(state.blocks) == blocks < self.timing.blocks:  # timed in fewer blocks: never extended
            self._close(case.id)

    def _keep_memory_maps_in_bounds(self) -> None:
        """runtime.keep_memory_maps_in_bounds, at most once every MAPS_CHECK_S seconds."""
        now = time.monotonic()
        if now - self._maps_checked >= MAPS_CHECK_S:
            self._maps_checked = now
            self.jax_cache_clears += keep_memory_maps_in_bounds()

    def decided_skip(self, case: Case, step: int) -> str | None:
        """Why block `step` of `case` will not run, where that is already decided, else None; changes nothing.

        Its preparation failed or could not run; its problem's extension blocks have stopped; its problem is
        timed in fewer blocks and this is not one of them. bench/conftest.py reports such a step as
        skipped without setting up its fixtures (half the items of a default run end this way), and
        `run` skips it for the same reason when it is called anyway.
        """
        if step == PREPARE:
            return None
        if case.id in self._not_timed:  # said as its preparation said it, so -rs counts them together
            return self._not_timed[case.id]
        problem = (case.group, case.compile)
        if step > self.timing.blocks:
            return self._extension_done.get(problem)
        blocks = self._problem_blocks.get(problem)
        if blocks is not None and not timed_in(step, blocks, self.timing.blocks):
            return self._fewer_blocks_reason()
        return None

    def _fewer_blocks_reason(self) -> str:
        return (f"a problem whose slowest call cannot fill {self.timing.blocks} blocks within --benchmark-max-time "
                f"is timed in fewer, spread over the run (at least {MIN_BLOCKS})")

    def _extension_stop(self, case: Case, step: int) -> str | None:
        """Why `case`'s problem gets no block `step`, or None: decided once per problem and step, at its
        first case (the others of the problem follow it, so their blocks stay paired); a stop is final,
        and closes the problem's cases (their rows are written from the blocks they have)."""
        problem = (case.group, case.compile)
        if problem in self._extension_done:
            return self._extension_done[problem]
        if (problem, step) in self._extension_steps:
            return None
        open_cases = [s for s in self._open.values() if (s.case.group, s.case.compile) == problem]
        reason = None
        if self.blocks_of_problem(case) < self.timing.blocks:
            reason = "a problem timed in fewer than --blocks blocks gets no extension blocks"
        elif not open_cases or len({len(s.blocks) for s in open_cases}) != 1:
            reason = "extension blocks stop where a problem's cases no longer have paired blocks"
        else:
            age = process_age()
            age = age if age is not None else time.monotonic() - self.started
            next_block = sum(s.rounds * s.iterations * s.call_s + s.call_s for s in open_cases)
            budget_s = shared_budget_s(self.timing.budget_s, self.timing.share, self.phases.seconds["startup"])
            if age + next_block + SAVE_RESERVE_S > budget_s:
                shared = "" if self.timing.share == 1 else (
                    f", --budget-share {self.timing.share:g} of the run's {self.timing.budget_s:g} s")
                reason = (f"extension blocks end when the run's budget ({budget_s:.4g} s from the process's "
                          f"start; --time-budget sets it{shared}) would be passed")
            elif self._reached_precision(open_cases):
                reason = f"the problem's ratios reached --precision {self.timing.precision:g}"
        if reason:
            self._extension_done[problem] = reason
            for state in open_cases:
                if state.blocks:
                    self._close(state.case.id)
        else:
            self._extension_steps.add((problem, step))
        return reason

    def _reached_precision(self, open_cases: list) -> bool:
        """Every Keras/torch pair among `open_cases` has a 95% half-width within --precision (stats.py)."""
        keras = [s for s in open_cases if s.case.framework == "keras"]
        torch = [s for s in open_cases if s.case.framework == "torch"]
        widths = [paired_half_width(k.blocks, t.blocks) for k in keras for t in torch]
        if not widths or None in widths:
            return not widths  # a problem without a Keras/torch pair has nothing to refine
        return max(widths) <= math.log1p(self.timing.precision)

    def blocks_of_problem(self, case: Case) -> int:
        """The blocks `case`'s problem is timed in, fixed at its first block: every case of the problem is
        prepared by then (bench/conftest.py block_order), and its Keras and torch blocks must pair up."""
        key = (case.group, case.compile)
        if key not in self._problem_blocks:
            calls = [s.call_s for s in self._open.values() if (s.case.group, s.case.compile) == key]
            self._problem_blocks[key] = self.timing.blocks_for(max(calls))
        return self._problem_blocks[key]

    def _open_case(self, benchmark, case: Case) -> None:
        reason = device_unavailable(case.framework, case.device)
        if reason:
            self._not_timed[case.id] = reason
            skip_step(reason)
        use_full_float32(case.device)
        row = case_row(case, self.profile, self.keras_backend, self.threads)
        first_of_problem = (case.group, case.compile) != self._last_problem  # bench/conftest.py block_order's problems
        self._last_problem = (case.group, case.compile)
        if first_of_problem and case.compile == "on":
            # A compiled problem is timed on its own, after every spread block (bench/conftest.py): the
            # cases before it are done, and it starts in a process without them, one problem after another.
            # Cases still open after their last extension step are done too: their rows are written now.
            for done in [c for c, state in self._open.items() if state.blocks]:
                self._close(done)
            self._finished.clear()
        with self.phases("reference"):
            reference = self.references.get(case)
        try:
            prepared = prepare(case, reference, forget_graphs=first_of_problem)
        except CouldNotRun as e:
            row.update(status=f"could not run: {e}")
            self._not_timed[case.id] = f"{case.id} could not run: {e}"
            if not benchmark.disabled:
                self.rows.append(row)
            skip_step(f"{case.id} could not run: {e}")
        except ParityError as e:  # not the same model or step: recorded, never timed, and a failure
            row.update(status=f"not timed: {e}")
            self._not_timed[case.id] = f"{case.id}: not timed, its preparation failed the parity check"
            if not benchmark.disabled:
                self.rows.append(row)
            raise
        with self.phases("calibration"):
            call_s = calibrate(prepared.call)
            extra_s = self._add_extra_work(case, prepared, call_s)
        iterations, rounds = self.timing.plan(call_s)
        extra = dict(
            max_abs_diff=prepared.max_abs_diff, first_call_s=prepared.first_call_s,
            kernel=prepared.kernel, graph_breaks=prepared.graph_breaks,
        )
        if extra_s:
            extra["extra_work_s"] = extra_s
        if prepared.compile_cache:  # --compile-cache: what the first call met
            extra["compile_cache"] = prepared.compile_cache
        self._open[case.id] = OpenCase(case, prepared, row, iterations, rounds, call_s, extra_info=extra)

    def _add_extra_work(self, case: Case, prepared, call_s: float) -> float | None:
        """--extra-work: this case's timed call followed by a loop of FRACTION of its call time (seconds)."""
        if self.extra_work is None or self.extra_work[0] != case.framework:
            return None
        # One call's time as the rounds will see it: rounds of calls (a single call of a sub-ms step reads
        # several times slower than its rounds), the median of five.
        n = self.timing.iterations(call_s)
        rounds = []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(n):
                prepared.call.fn()
            rounds.append((time.perf_counter() - start) / n)
        seconds = self.extra_work[1] * sorted(rounds)[2]
        prepared.call.fn = with_extra_work(prepared.call.fn, seconds)
        return seconds

    def _close(self, case_id: str, timed: bool = True) -> None:
        """The case's row and raw rounds, from all its blocks. Its models stay in memory until the
        session ends: the cases still in their last block keep the process they started in."""
        state = self._open.pop(case_id)
        self._finished.append(state.prepared)
        if not timed:
            return
        case = state.case
        stats = Stats()
        for seconds in (x for block in state.blocks for x in block):
            stats.update(seconds)
        prepared = state.prepared
        with self.phases("peak"):
            peak = self.peak(case.framework, case.device)
        self.rows.append(measured_row(state.row, case, prepared, stats, peak))
        extra = {**state.extra_info, "compiler": compiler_label(prepared), "compiles_per_call": prepared.compiles_per_call,
                 "block_rounds": [len(b) for b in state.blocks], "block_other_threads_cpu": state.other_threads_cpu,
                 "block_minor_faults": state.minor_faults, "block_started_s": state.started_s}
        stats_dict = {**stats.as_dict(), "iterations": state.iterations, "data": list(stats.data)}
        self.raw_entries.append(entry(case.id, case.group, state.row, extra, stats_dict))

    def record_noise_floor(self, benchmark) -> None:
        if not benchmark.disabled and benchmark.stats is not None:
            stats = benchmark.stats.stats
            self.noise_floor = dict(median_s=stats.median, spread=stats.iqr / stats.median, rounds=stats.rounds)

    def save(self) -> None:
        for case_id in [c for c, state in self._open.items() if state.blocks]:  # e.g. later blocks deselected
            self._close(case_id)
        if not self.rows:
            return
        with self.phases("peak"):
            for (framework, device), peaks in self._peaks.items():  # again at the end: did the machine change?
                peaks["end"] = peak_gflops(framework, device)
        environment = collect(self.threads, self.keras_backend, self.code)
        environment["noise_floor"] = self.noise_floor
        environment["blocks"] = self.timing.blocks
        environment["method"] = MEASUREMENT_METHOD  # bench/store/schema.py: noise models and sets never mix methods
        environment["precision"] = self.timing.precision
        environment["gc_in_rounds"] = "off" if self.timing.disable_gc else "on"
        environment["jax_cache_clears"] = self.jax_cache_clears
        if compile_cache_dir():  # --compile-cache (absent by default)
            environment["compile_cache"] = compile_cache_dir()
        if self.extra_work is not None:  # an experiment's set: says so beside its numbers
            environment["extra_work"] = f"{self.extra_work[0]}={self.extra_work[1]:g}"
        # the whole process, start-up included, where /proc tells: what `bench run` waits for
        age = process_age()
        wall_s = age if age is not None else time.monotonic() - self.started
        time_s = self.phases.record(wall_s)
        reached = time_to_target(self.raw_entries, self.timing.precision)  # the floor: what the target would take
        level = level_vs_previous(self.rows, load_benchmarks(self.results_dir))  # the host's state against last time
        if self.run_record is not None:
            environment["run"] = {**self.run_record, "wall_s": round(wall_s, 1), "time_s": time_s,
                                  "precision_reached": reached, "level_vs_previous": level}
        environment["peak_gflops"] = {f"{f} {d}": summarise(p) for (f, d), p in self._peaks.items()}
        with self.phases("save"):
            save_run(self.results_dir, self.rows, environment, self.raw_entries, pytest_benchmark.__version__)
        time_s["save"] = round(self.phases.seconds["save"], 1)
        self._saved = "\n".join(filter(None, [
            f"merged {len(self.rows)} rows into {self.results_dir}/ (benchmarks.csv, comparison.csv, environment.json, raw/)",
            phase_line(time_s), precision_line(reached, self.timing.precision), level_line(level)]))

    def save_failed(self, message: str) -> None:
        """What the summary says instead, when save() raised: the previous files stay as they were."""
        self._saved = message

    def summary(self) -> str | None:
        return self._saved
