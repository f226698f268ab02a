"""Cases timed in blocks: spread over the run, a problem's cases side by side in each (bench/conftest.py, bench/suite/session.py)."""

import json
import os
import platform
import re
import sys
from types import SimpleNamespace
from pathlib import Path

import numpy as np
import pytest

from bench.suite.cases import all_cases
from bench.conftest import PREPARE, block_order
from bench.suite.session import Timing
from bench.store.files import read_csv
from bench.suite.options import checked_option


def test_block_order_prepares_every_case_then_spreads_its_blocks_over_the_run_a_problem_together_in_each():
    cases = [c for c in all_cases("seed", "off", devices=("cpu",)) if c.topology in ("one_to_one", "many_to_many")]
    order = block_order(cases, 3)
    assert len(order) == 4 * len(cases) and {c for c, _ in order} == set(cases)
    # every case prepared, then block 1 of every case, block 2 ...; a problem's cases in the registry's
    # order in odd blocks (and preparation), reversed in even ones (ABBA)
    problems = {}
    for c in cases:
        problems.setdefault(c.group, []).append(c)
    abba = lambda step: [c for group in problems.values() for c in (group[::-1] if step == 2 else group)]
    assert PREPARE == 0 and order == [(c, step) for step in range(4) for c in abba(step)]
    for step in (1, 2):
        groups = [c.group for c, s in order if s == step]
        runs = [g for i, g in enumerate(groups) if i == 0 or groups[i - 1] != g]
        assert len(runs) == len(set(runs))  # a problem's cases are adjacent within a block
    first = lambda step, group: next(c.framework for c, s in order if s == step and c.group == group)
    pair = next(g for g, group in problems.items() if {c.framework for c in group} == {"keras", "torch"})
    assert first(1, pair) != first(2, pair)  # each arm first in half of the blocks


def test_a_case_on_a_device_the_machine_lacks_gets_its_preparation_step_alone():
    cases = [c for c in all_cases("seed", "off") if c.topology == "one_to_one"]
    order = block_order(cases, 3, devices=("cpu",))
    gpu = [c for c in cases if c.device != "cpu"]
    assert gpu and [(c, s) for c, s in order if c.device != "cpu"] == [(c, PREPARE) for c in gpu]
    assert len(order) == len(gpu) + 4 * (len(cases) - len(gpu))


def test_block_order_keeps_a_compiled_problem_s_blocks_back_to_back():
    cases = [c for c in all_cases("seed", "both", devices=("cpu",)) if c.topology == "many_to_many"]
    order = block_order(cases, 2)  # steps 0 (prepare), 1, 2
    off = [(c, b) for c, b in order if c.compile == "off"]
    on = [(c, b) for c, b in order if c.compile == "on"]
    assert order == off + on and on  # every spread block first, then the compiled problems
    for group in {c.group for c, _ in on}:
        items = [(c.id, b) for c, b in on if c.group == group]
        ids = [c.id for c in cases if c.group == group and c.compile == "on"]
        assert items == [(i, step) for step in range(3) for i in (ids[::-1] if step == 2 else ids)]
        where = [i for i, (c, _) in enumerate(on) if c.group == group]
        assert where == list(range(where[0], where[0] + len(where)))  # back to back


def test_timing_plan_splits_the_time_budget_over_blocks_and_keeps_the_minimum_rounds():
    timing = Timing(min_time=0.005, max_time=1.5, min_rounds=15, blocks=5)
    assert timing.plan(0.001) == (5, 60)  # 5 calls make a 5 ms round; 0.3 s per block
    assert timing.plan(0.050) == (1, 6)  # a slow call: 0.3 s holds 6 rounds
    assert timing.plan(1.0) == (1, 3)  # slower still: 15 rounds over 5 blocks, whatever the time


def test_a_problem_too_slow_to_fill_its_blocks_gets_fewer_spread_over_the_run_never_under_the_minimum():
    from bench.suite.options import MIN_BLOCKS
    from bench.suite.session import timed_in

    timing = Timing(min_time=0.005, max_time=1.2, min_rounds=15, blocks=40)
    assert timing.blocks_for(0.0002) == 40  # rounds of 5 ms: 1.2 s holds 120 pairs of rounds
    assert timing.blocks_for(0.050) == 12  # 1.2 s holds 12 blocks of two 50 ms rounds
    assert timing.blocks_for(1.6) == MIN_BLOCKS == 10  # slower still: the minimum (each block: warm-up + 2 rounds)
    assert timing.plan(1.6, 10) == (1, 2) and timing.plan(0.050, 12) == (1, 2)
    assert Timing(max_time=1.2, blocks=5).blocks_for(1.6) == 5  # --blocks below the minimum stays as asked
    assert Timing(max_time=1.2, blocks=1).blocks_for(1.6) == 1
    for blocks in (1, 10, 12, 40):
        steps = [s for s in range(1, 41) if timed_in(s, blocks, 40)]
        assert len(steps) == blocks and steps[-1] == 40  # exactly that many, the last step among them
        gaps = {b - a for a, b in zip(steps, steps[1:])}
        assert max(gaps, default=0) - min(gaps, default=0) <= 1  # evenly spread


def test_a_problem_s_cases_share_the_blocks_of_its_slowest_case(monkeypatch, tmp_path):
    from bench.suite import session as session_module
    from tests.helpers import case_of

    calls = {"many_to_one-keras-infer-cpu-seed": 0.2, "many_to_one-torch-infer-cpu-seed": 0.001}

    class Prepared:
        max_abs_diff = first_call_s = 0.0
        kernel = graph_breaks = compile_cache = ""

        def __init__(self, case_id):
            self.case_id = case_id

        def call(self):
            pass

    monkeypatch.setattr(session_module, "prepare", lambda case, reference, forget_graphs=True: Prepared(case.id))
    monkeypatch.setattr(session_module, "calibrate", lambda call: calls[call.__self__.case_id])
    monkeypatch.setattr(session_module, "run_counted", lambda prepared, run: None)  # times nothing
    monkeypatch.setattr(session_module.BenchSession, "_start", lambda self: None)
    bench = session_module.BenchSession("seed", 1, "tensorflow", tmp_path, Timing(max_time=1.2, blocks=20))
    bench.references = SimpleNamespace(get=lambda case: None)
    keras, torch = (case_of(c) for c in calls)

    class Benchmark:
        disabled, extra_info = True, {}

    for case in (keras, torch):
        bench.run(Benchmark(), case, 0)
    # 0.2 s per call: 1.2 s holds 3 blocks of two rounds, so the problem gets the minimum, 10 of the 20 steps
    assert bench.blocks_of_problem(torch) == bench.blocks_of_problem(keras) == 10
    with pytest.raises(pytest.skip.Exception, match="timed in fewer"):
        bench.run(Benchmark(), torch, 1)  # not one of the problem's steps (2, 4, ... 20)
    bench.run(Benchmark(), torch, 2)  # --benchmark-disable: runs once, times nothing, closes the case
    assert bench._open[keras.id].rounds == Timing(max_time=1.2, blocks=20).plan(0.2)[1] == 1  # replanned at its first block
    assert torch.id not in bench._open


@pytest.mark.slow
def test_a_timed_run_spreads_blocks_over_the_run_and_keeps_each_case_blocks(small_timed_run):
    """tests/conftest.py's small timed run (3 blocks); its many_to_one Keras and torch cases on the CPU."""
    done, tmp_path = small_timed_run.done, small_timed_run.results_dir
    assert small_timed_run.blocks == 3
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ran = re.findall(r"test_case\[many_to_one-(\w+)-(\w+)-cpu-seed-(prepare|block\d)\] PASSED", done.stdout)
    # every case prepared, then block by block over both problems (train, infer); Keras and torch side by
    # side, torch first in even blocks (ABBA)
    arms = lambda step: ("torch", "keras") if step == "block2" else ("keras", "torch")
    assert ran == [(f, mode, step) for step in ("prepare", "block1", "block2", "block3")
                   for mode in ("train", "infer") for f in arms(step)]
    assert "Benchmark fixture was not used" not in done.stdout  # a preparation step times nothing, quietly
    (raw_file,) = (tmp_path / "raw").glob("*.json")
    # the Keras and torch cases on the CPU (the run's ONNX Runtime cases time too: tests/test_bench_suite.py)
    native = lambda framework: framework in ("keras", "torch")
    entries = [e for e in json.loads(raw_file.read_text())["benchmarks"]
               if native(e["extra_info"]["case_key"]["framework"]) and e["extra_info"]["case_key"]["device"] == "cpu"]
    rows = {(r["framework"], r["mode"]): r for r in read_csv(tmp_path / "benchmarks.csv")
            if native(r["framework"]) and r["device"] == "cpu"}
    assert len(entries) == 4 and len(rows) == 4
    for e in entries:
        key = e["extra_info"]["case_key"]
        sizes = e["extra_info"]["block_rounds"]
        assert len(sizes) == 3 and min(sizes) >= 1 and sum(sizes) == len(e["stats"]["data"])
        assert int(rows[key["framework"], key["mode"]]["rounds"]) == sum(sizes)
        faults = e["extra_info"]["block_minor_faults"]  # per block, per call
        assert len(faults) == 3 and all(f >= 0 for f in faults)
    started = {(e["extra_info"]["case_key"]["framework"], e["extra_info"]["case_key"]["mode"]):
               e["extra_info"]["block_started_s"] for e in entries}  # each block's start, recorded
    keras_first = [k < t for k, t in zip(started["keras", "train"], started["torch", "train"])]
    assert keras_first == [True, False, True]
    (slice_env,) = json.loads((tmp_path / "environment.json").read_text())["slices"].values()
    allowed = sorted(os.sched_getaffinity(0))
    # the timed process ran on one CPU (the last it could use)
    assert slice_env["pinned_cpus"] == (allowed[-1:] if len(allowed) > 1 else None)
    assert slice_env["cores_available"] == len(allowed) and slice_env["blocks"] == 3
    assert slice_env["gc_in_rounds"] == "off"  # pyproject.toml's --benchmark-disable-gc, recorded
    if (Path(__file__).resolve().parents[1] / ".git").exists():  # the commit timed, "+changes" if edited
        assert re.fullmatch(r"[0-9a-f]{7,}(\+changes)?", slice_env["code"])
    if platform.libc_ver()[0] == "glibc":  # malloc's thresholds were fixed, and recorded
        assert slice_env["malloc"] == "mmap_threshold=33554432,trim_threshold=536870912"


def test_blocks_must_be_a_positive_integer():
    """The check bench/conftest.py applies to --blocks (exit 2 and one line: tests/test_bench_suite.py)."""
    with pytest.raises(ValueError, match="--blocks must be a positive integer, got '0'"):
        checked_option("--blocks", "0")


def test_the_blocks_of_a_case_whose_preparation_failed_skip_saying_so(monkeypatch, tmp_path):
    import pytest

    from bench.suite import session as session_module
    from tests.helpers import case_of

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(session_module, "prepare", broken)
    monkeypatch.setattr(session_module.BenchSession, "_start", lambda self: None)
    bench = session_module.BenchSession("seed", 1, "tensorflow", tmp_path, Timing(blocks=3))
    case = case_of("many_to_one-torch-infer-cpu-seed")

    class Benchmark:
        disabled, extra_info = False, {}

    with pytest.raises(RuntimeError, match="boom"):
        bench.run(Benchmark(), case, 0)
    assert "its preparation failed (RuntimeError)" in bench.decided_skip(case, 1)  # bench/conftest.py reports it unrun
    for step in (1, 2, 3):
        with pytest.raises(pytest.skip.Exception, match="its preparation failed \\(RuntimeError\\)"):
            bench.run(Benchmark(), case, step)
    assert bench.rows == [] and not list(tmp_path.iterdir())


@pytest.mark.slow
def test_a_case_skipped_in_every_block_is_one_line_of_the_skip_summary(small_timed_run):
    """tests/conftest.py's small timed run (3 blocks): on a machine without a GPU its CUDA cases skip."""
    from bench.suite.harness import device_unavailable

    done = small_timed_run.done
    skips = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED")]
    reasons = [device_unavailable(c.framework, c.device) for c in small_timed_run.cases]
    if not any(reasons):  # a machine with a GPU for every case: nothing skipped, nothing to group
        assert done.returncode == 0 and not skips, done.stdout[-3000:]
        pytest.skip("this machine runs every selected case on its GPU: no skip to summarise")
    # one summary line per reason, each case on a device this machine lacks counted once (its preparation
    # step), never once per block
    counted = {}
    for line in skips:
        number, reason = re.fullmatch(r"SKIPPED \[(\d+)\] [^:]+:\d+: (.*)", line).groups()
        assert reason not in counted, skips  # one line per reason
        counted[reason] = int(number)
    assert counted == {r: reasons.count(r) for r in set(reasons) if r}, skips


def test_finished_cases_stay_in_memory_until_a_compiled_problem_starts(monkeypatch, tmp_path):
    import gc
    import weakref

    from bench.suite import session as session_module
    from tests.helpers import case_of

    class Prepared:
        max_abs_diff = first_call_s = 0.0
        kernel = graph_breaks = compile_cache = ""

        def call(self):
            pass

    monkeypatch.setattr(session_module, "prepare", lambda case, reference, forget_graphs=True: Prepared())
    monkeypatch.setattr(session_module.BenchSession, "_start", lambda self: None)
    bench = session_module.BenchSession("seed", 1, "tensorflow", tmp_path, Timing(blocks=2))
    bench.references = SimpleNamespace(get=lambda case: None)

    class Benchmark:
        disabled, extra_info = False, {}

    spread = case_of("many_to_one-torch-infer-cpu-seed")
    bench.run(Benchmark(), spread, 0)
    alive = weakref.ref(bench._open[spread.id].prepared)
    bench._close(spread.id, timed=False)  # its last block done: kept for the cases still timing
    gc.collect()
    assert alive() is not None
    bench.run(Benchmark(), case_of("many_to_one-torch-infer-cpu-jit-seed", "on"), 0)  # a compiled problem starts
    gc.collect()
    assert alive() is None


def test_compile_caches_are_dropped_only_past_half_the_kernel_s_memory_map_limit(monkeypatch):
    from bench.suite import runtime

    cleared, read_maps = [], runtime.memory_maps
    framework = SimpleNamespace(release_compile_caches=lambda: cleared.append(1))
    monkeypatch.setattr(runtime, "framework_classes", lambda: [framework, framework])  # the registry, as runtime reads it
    monkeypatch.setattr(runtime, "memory_maps", lambda: (30000, 65530))
    assert runtime.keep_memory_maps_in_bounds() is False and not cleared
    monkeypatch.setattr(runtime, "memory_maps", lambda: (40000, 65530))
    assert runtime.keep_memory_maps_in_bounds() is True and cleared == [1, 1]  # every framework's
    monkeypatch.setattr(runtime, "memory_maps", lambda: None)  # not Linux: nothing to read, nothing done
    assert runtime.keep_memory_maps_in_bounds() is False and cleared == [1, 1]
    if Path("/proc/self/maps").exists():
        count, limit = read_maps()
        assert 0 < count < limit


def test_the_session_reads_its_memory_maps_at_most_once_a_second(monkeypatch, tmp_path):
    from bench.suite import session as session_module

    reads = []
    monkeypatch.setattr(session_module, "keep_memory_maps_in_bounds", lambda: reads.append(1) or True)
    bench = session_module.BenchSession("seed", 1, "tensorflow", tmp_path, Timing(blocks=2))
    bench._keep_memory_maps_in_bounds()
    bench._keep_memory_maps_in_bounds()  # a block item right after: not read again
    assert reads == [1] and bench.jax_cache_clears == 1
    bench._maps_checked -= session_module.MAPS_CHECK_S
    bench._keep_memory_maps_in_bounds()
    assert reads == [1, 1] and bench.jax_cache_clears == 2


def _extending_session(monkeypatch, tmp_path, budget_s=1e6):
    """A session of one problem (Keras and torch infer, seed size) whose blocks time nothing: each block's
    rounds are what `Benchmark.data` holds when it runs, and closing a case is only recorded."""
    from bench.suite import session as session_module
    from tests.helpers import case_of

    class Prepared:
        max_abs_diff = first_call_s = 0.0
        kernel = graph_breaks = compile_cache = ""

        def call(self):
            pass

    monkeypatch.setattr(session_module, "prepare", lambda case, reference, forget_graphs=True: Prepared())
    monkeypatch.setattr(session_module, "calibrate", lambda call: 0.001)
    monkeypatch.setattr(session_module, "run_counted", lambda prepared, run: None)
    monkeypatch.setattr(session_module.BenchSession, "_start", lambda self: None)
    bench = session_module.BenchSession("seed", 1, "tensorflow", tmp_path,
                                        Timing(max_time=1.2, blocks=10, precision=0.025, budget_s=budget_s))
    bench.references = SimpleNamespace(get=lambda case: None)
    closed = []
    monkeypatch.setattr(bench, "_close", lambda case_id, timed=True: (closed.append(case_id), bench._open.pop(case_id)))
    cases = [case_of("many_to_one-keras-infer-cpu-seed"), case_of("many_to_one-torch-infer-cpu-seed")]
    return bench, cases, closed


class _Benchmark:
    disabled, extra_info, group = False, {}, ""

    def __init__(self, data):
        self.stats = SimpleNamespace(stats=SimpleNamespace(data=data))


def _run_blocks(bench, cases, steps, noise, rng):
    for step in steps:
        for case in cases:
            median = 0.002 if case.framework == "keras" else 0.001
            bench.run(_Benchmark(list(median * np.exp(rng.normal(0, noise, 3)))), case, step)


def test_a_problem_whose_ratio_reached_the_precision_gets_no_extension_block(monkeypatch, tmp_path):
    bench, cases, closed = _extending_session(monkeypatch, tmp_path)
    assert bench.timing.steps == 20  # --blocks 10, then up to 10 extension blocks
    for case in cases:
        bench.run(_Benchmark([]), case, 0)
    _run_blocks(bench, cases, range(1, 11), 0.001, np.random.default_rng(0))  # a quiet machine: +-0.1%
    assert closed == []  # a case stays open after --blocks: it may be extended
    assert bench.decided_skip(cases[0], 11) is None  # not decided yet: its first case's item decides
    for case in cases:
        with pytest.raises(pytest.skip.Exception, match="reached --precision 0.025"):
            bench.run(_Benchmark([]), case, 11)
    assert sorted(closed) == sorted(c.id for c in cases)  # both closed, with 10 paired blocks each
    # Decided now: the later extension items are reported skipped without running (bench/conftest.py)
    assert all("reached --precision 0.025" in bench.decided_skip(case, 12) for case in cases)
    assert bench.decided_skip(cases[0], 0) is None


def test_a_noisy_problem_gets_extension_blocks_until_the_budget_would_be_passed(monkeypatch, tmp_path):
    bench, cases, closed = _extending_session(monkeypatch, tmp_path)
    for case in cases:
        bench.run(_Benchmark([]), case, 0)
    rng = np.random.default_rng(1)
    _run_blocks(bench, cases, range(1, 13), 0.3, rng)  # blocks 30% apart: far from +-2.5% in 10 blocks
    assert closed == [] and {len(s.blocks) for s in bench._open.values()} == {12}  # extended, still paired
    bench.timing.budget_s = 1.0  # this process is older than that: the next block would pass the budget
    for case in cases:
        with pytest.raises(pytest.skip.Exception, match="budget"):
            bench.run(_Benchmark([]), case, 13)
    assert sorted(closed) == sorted(c.id for c in cases)
    with pytest.raises(pytest.skip.Exception, match="budget"):  # a stop is final
        bench.run(_Benchmark([]), cases[0], 14)


def test_a_process_timing_a_share_of_a_run_extends_within_that_share_beyond_its_own_start_up(monkeypatch, tmp_path):
    """--budget-share (a cluster task: one problem of a run): its start-up and save reserve whole, then its share
    of what the run's budget leaves (bench/suite/session.py shared_budget_s); share 1 is the run's budget."""
    from bench.suite import session as session_module
    from bench.suite.session import SAVE_RESERVE_S, shared_budget_s

    assert shared_budget_s(270.0, 1.0, 20.0) == pytest.approx(270.0)
    assert shared_budget_s(270.0, 0.05, 20.0) == pytest.approx(20.0 + SAVE_RESERVE_S + 0.05 * (270.0 - 30.0))
    shares = [0.5, 0.3, 0.2]  # the run's problems, each in a task: together the time the run gives its problems
    problems_s = sum(shared_budget_s(270.0, f, 20.0) - 20.0 - SAVE_RESERVE_S for f in shares)
    assert problems_s == pytest.approx(270.0 - 20.0 - SAVE_RESERVE_S)

    age = [20.0]  # the process's age: its start-up when the first item starts
    monkeypatch.setattr(session_module, "process_age", lambda: age[0])
    runs = {}
    for share in (1.0, 0.05):
        bench, cases, closed = _extending_session(monkeypatch, tmp_path / str(share), budget_s=270.0)
        bench.timing.share = share
        age[0] = 20.0
        for case in cases:
            bench.run(_Benchmark([]), case, 0)
        _run_blocks(bench, cases, range(1, 11), 0.3, np.random.default_rng(1))  # noisy: it wants extensions
        age[0] = 45.0  # 25 s into its problem: within the run's budget, past 5% of it (12 s)
        try:
            bench.run(_Benchmark([]), cases[0], 11)
            runs[share] = "extended"
        except pytest.skip.Exception as e:
            runs[share] = str(e)
    assert runs[1.0] == "extended"
    assert "budget" in runs[0.05] and "--budget-share 0.05 of the run's 270 s" in runs[0.05], runs


def test_a_budget_share_must_be_a_fraction_above_zero_and_at_most_one():
    assert checked_option("--budget-share", "0.25") == 0.25
    for bad in ("0", "-0.1", "nan", "1.5", "x"):
        with pytest.raises(ValueError, match="--budget-share must be a fraction above 0 and at most 1"):
            checked_option("--budget-share", bad)


def test_precision_must_be_a_fraction_above_zero():
    """--precision 0 would extend every problem to the end of the budget: one line, exit 2 (bench/conftest.py)."""
    for bad in ("0", "-0.1", "nan", "2", "x"):
        with pytest.raises(ValueError, match="--precision must be a fraction above 0"):
            checked_option("--precision", bad)
    assert checked_option("--precision", "0.05") == 0.05


def test_the_thread_report_holds_each_loaded_framework_s_pools():
    """What environment.json records, read through each runtime's Framework part."""
    import torch

    from bench.suite import runtime

    report = runtime.thread_report(1)
    assert report["torch"] == {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()}
    assert ("tensorflow" in report) == ("tensorflow" in sys.modules)
