"""Method 2's pieces on known inputs: the time breakdown, extra work, the precision a run reached and
what its target would take, held-out coverage (bench/suite/phases.py, extra_work.py,
bench/analysis/precision_budget.py, bench/commands/stability.py)."""

import math
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from bench.analysis import precision_budget
from bench.analysis.stats import Estimate
from bench.commands import stability
from bench.store import raw
from bench.suite import extra_work, phases
from tests.helpers import benchmark_row


def test_the_phase_clock_counts_an_inner_phase_once_and_moves_timed_rounds_out_of_their_block():
    clock = phases.PhaseClock()
    clock.first_item(lambda: 6.0)
    clock.first_item(lambda: 99.0)  # read once
    with clock("prepare"):
        time.sleep(0.02)
        with clock("calibration"):
            time.sleep(0.03)
    with clock("block_overhead"):
        time.sleep(0.03)
    clock.timed(0.02)
    record = clock.record(total_s=10.0)
    assert record["startup"] == 6.0 and clock.seconds["calibration"] >= 0.03
    assert 0.015 <= clock.seconds["prepare"] < 0.045  # the calibration inside it (0.03 s) is not counted twice
    assert record["timed"] == pytest.approx(0.0, abs=0.05) and clock.seconds["timed"] == 0.02
    assert clock.seconds["block_overhead"] == pytest.approx(0.01, abs=0.01)
    assert record["other"] == pytest.approx(10.0 - 6.0 - sum(clock.seconds[n] for n in phases.PHASES if n not in
                                                                ("other", "startup")), abs=0.11)
    assert record["timed_share"] == pytest.approx(0.002, abs=1e-3)
    assert phases.line(record).startswith("time: 10 s, 0% of it in timed rounds; start-up (imports, collection) 6 s")


def test_extra_work_adds_about_the_asked_fraction_and_bad_input_names_the_option():
    assert extra_work.parse("torch=0.1") == ("torch", 0.1)
    for bad in ("tf=0.1", "torch=0", "torch=2", "torch", "keras=x"):
        with pytest.raises(ValueError, match="--extra-work takes FRAMEWORK=FRACTION"):
            extra_work.parse(bad)
    base = lambda: extra_work._spin(20_000)
    slowed = extra_work.with_extra_work(base, 0.5 * _median_times(base)[0])
    base_s, slowed_s = _median_times(base, slowed)  # alternated, so a drift of the machine meets both
    assert 1.2 < slowed_s / base_s < 2.0  # about 1.5 on a quiet or busy machine


def _median_times(*fns, n=31):
    times = [[] for _ in fns]
    for _ in range(n):
        for fn, of in zip(fns, times):
            start = time.perf_counter()
            fn()
            of.append(time.perf_counter() - start)
    return [sorted(t)[n // 2] for t in times]


def _entry(framework, head, blocks, iterations=2):
    row = benchmark_row(framework, head, float(np.median(sum(blocks, []))))
    return raw.entry(f"{framework}-{head}", "g", row, {"block_rounds": [len(b) for b in blocks]},
                     {"data": sum(blocks, []), "iterations": iterations})


def test_the_time_a_precision_target_needs_grows_with_the_square_of_the_half_width_reached():
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.10, 20)  # 20 paired blocks whose log ratios scatter by 10%
    keras = [[0.002 * math.exp(n)] * 3 for n in noise]
    torch = [[0.001] * 3 for _ in noise]
    result = precision_budget.time_to_target([_entry("keras", "timedistributed", keras),
                                              _entry("torch", "broadcast", torch)], target=0.025)
    half = math.log1p(result["median_half_width"])
    assert result["pairs"] == 1 and result["at_target"] == 0 and half == pytest.approx(
        2.093 * np.std(noise, ddof=1) / math.sqrt(20), rel=1e-3)  # t(19) sd / sqrt(n)
    assert result["timed_s"] == pytest.approx(2 * (sum(sum(b) for b in keras) + sum(sum(b) for b in torch)))
    assert result["timed_s_needed"] == pytest.approx(result["timed_s"] * (half / math.log1p(0.025)) ** 2)
    assert "0 at the ±2.5% target" in precision_budget.line(result, 0.025)
    quiet = precision_budget.time_to_target([_entry("keras", "timedistributed", [[0.002] * 3] * 20),
                                             _entry("torch", "broadcast", torch)], target=0.025)
    assert quiet["at_target"] == 1 and quiet["timed_s_needed"] == quiet["timed_s"]  # a reached target costs no more
    assert precision_budget.time_to_target([_entry("torch", "broadcast", torch)], 0.025) is None


def _runs(logs_per_run, var=1e-4, blocks=40):
    return [SimpleNamespace(pairs={(str(k),): Estimate(x, var, blocks) for k, x in enumerate(logs)}, cases={})
            for logs in logs_per_run]


def test_held_out_coverage_checks_the_newest_run_against_a_noise_model_fitted_without_it():
    rng = np.random.default_rng(1)
    truth = rng.normal(0, 0.5, 200)
    steady = _runs([truth + rng.normal(0, 0.01, 200) for _ in range(3)])
    held = stability.held_out_coverage(steady, None)
    assert held["held_out_coverage"] > 0.9 and "newest run" in held["held_out_how"]
    # the newest run moved by 10% in every pair, the earlier two agreed: the model fitted to them misses it
    moved = _runs([truth, truth + rng.normal(0, 0.005, 200), truth + 0.1])
    assert stability.held_out_coverage(moved, None)["held_out_coverage"] < 0.2
    # with earlier sets: this set's reruns against the earlier sets' noise
    model = {"ratio_run_var": 0.05**2, "ratio_set_var": 0.0, "pooled_sets": ["a", "b"]}
    wide = stability.held_out_coverage(moved, model)
    assert wide["held_out_coverage"] > 0.9 and "2 earlier set(s)" in wide["held_out_how"]  # a 10% move is within its noise
    assert stability.held_out_coverage(steady[:2], None)["held_out_how"].startswith("not measured")


def test_reanalyse_derives_a_set_s_tables_again_with_the_current_analysis(tmp_path, capsys):
    """The test data's set was derived by an older analysis: its comparison.csv lacks the columns the
    current one writes; reanalyse writes them from the same benchmarks.csv, and says what changed."""
    import shutil
    from pathlib import Path

    from bench.cli import main
    from bench.store.files import read_csv

    results = shutil.copytree(Path(__file__).parent / "data" / "quick_results", tmp_path / "results")
    before = read_csv(results / "benchmarks.csv")
    assert "interval_noise" not in read_csv(results / "comparison.csv")[0]
    assert main(["reanalyse", "--results-dir", str(results)]) == 0
    rows = read_csv(results / "comparison.csv")
    assert rows and all(r["interval_noise"] for r in rows)
    after = read_csv(results / "benchmarks.csv")  # the measurements as they were (a newer column added empty)
    assert [{c: r[c] for c in before[0]} for r in after] == before
    assert f"of {len(rows)} Keras/torch ratios" in capsys.readouterr().out


def test_a_run_far_from_its_predecessor_s_level_says_so():
    from bench.analysis import run_level

    old = [benchmark_row("keras", head, 0.010 * (i + 1)) for i, head in enumerate(("timedistributed", "dense3d"))]
    same = [dict(r, median_s=float(r["median_s"]) * 1.02) for r in old]
    slow = [dict(r, median_s=float(r["median_s"]) * 1.8) for r in old]
    assert run_level.level_vs_previous(same, old) == {"cases": 2, "level": pytest.approx(1.02)}
    assert "host was not in the state" not in run_level.line(run_level.level_vs_previous(same, old))
    assert "1.80x the previous run" in run_level.line(run_level.level_vs_previous(slow, old))
    assert "host was not in the state" in run_level.line(run_level.level_vs_previous(slow, old))
    assert run_level.level_vs_previous(slow, []) is None and run_level.line(None) == ""


def _process_blocks(levels, rng, blocks=12, noise=0.01):
    """Blocks of one arm over processes: process p's blocks around levels[p], labelled with p."""
    from bench.store.raw import ProcessBlocks

    data = [[level * math.exp(rng.normal(0, noise))] * 3 for level in levels for _ in range(blocks)]
    return ProcessBlocks(data, [p for p in range(len(levels)) for _ in range(blocks)])


def test_a_run_of_several_processes_publishes_their_mean_with_the_variance_between_them():
    from bench.analysis import stats
    from bench.analysis.stats import Timing

    rng = np.random.default_rng(3)
    # the ratio is 2.0 in process 0 and 2.2 in process 1: a host state per process the blocks cannot see
    keras = Timing(_process_blocks([0.002, 0.0022], rng), 0.0021)
    torch = Timing(_process_blocks([0.001, 0.001], rng), 0.001)
    assert stats.ratio(keras, torch) == pytest.approx(math.sqrt(2.0 * 2.2), rel=0.01)  # the mean of the log ratios
    within_only = stats.pair_within_var(
        Timing(list(keras.blocks), 0.0021), Timing(list(torch.blocks), 0.001))  # unlabelled: one run's blocks
    between = stats.pair_within_var(keras, torch)
    assert between > 4 * within_only > 0  # the processes' disagreement is in the variance
    assert between == pytest.approx((math.log(1.1) ** 2 / 2) / 2, rel=0.3)  # (var of 2 process logs) / 2
    # pooled over a run's pairs, the between-process term replaces one pair's own estimate
    assert stats.pair_within_var(keras, torch, process_var=0.0) < between
    assert stats.pooled_process_var([(keras, torch)]) == pytest.approx(stats.process_excess_var(
        stats.process_estimates(keras.blocks, torch.blocks)))
    assert stats.pooled_process_var([(Timing([], 1.0), Timing([], 1.0))]) is None


def test_processes_combine_into_one_row_and_one_labelled_raw_entry(tmp_path):
    from bench.analysis import processes
    from bench.store.files import write_csv, write_json
    from bench.store.schema import BENCHMARK_COLUMNS

    rng = np.random.default_rng(4)
    directories = []
    for p, level in enumerate((0.002, 0.0022)):
        d = tmp_path / f"process-{p}"
        rows = [benchmark_row("keras", "timedistributed", level), benchmark_row("torch", "broadcast", 0.001)]
        write_csv(d / "benchmarks.csv", rows, BENCHMARK_COLUMNS)
        entries = [_entry(r["framework"], r["head"], [[float(r["median_s"]) * math.exp(rng.normal(0, 0.01))] * 3
                                                     for _ in range(12)]) for r in rows]
        raw.save(d, entries, {})
        write_json(d / "environment.json", {"slices": {"s": {"date": "d", "run": {"wall_s": 100.0 + p}}}})
        directories.append(d)
    rows, entries, environment = processes.combine(directories)
    keras = next(e for e in entries if e["extra_info"]["case_key"]["framework"] == "keras")
    assert keras["extra_info"]["block_process"] == [0] * 12 + [1] * 12 and len(keras["stats"]["data"]) == 72
    assert keras["extra_info"]["block_rounds"] == [3] * 24
    keras_row = next(r for r in rows if r["framework"] == "keras")
    assert keras_row["rounds"] == 72 and 0.002 < keras_row["median_s"] < 0.0022
    assert environment["processes"] == 2 and environment["run"]["process_wall_s"] == [100.0, 101.0]
    assert environment["run"]["wall_s"] == 100.0  # one process's: `bench run` multiplies by --processes


def test_auto_processes_stop_at_the_target_at_the_most_or_at_the_budget():
    from bench.analysis.processes import AUTO_MAX_PROCESSES, stop_reason

    assert stop_reason([0.01], 0.025, 1, 0, 60, 1200) is None  # one process cannot measure the between term
    assert stop_reason([0.01, 0.02], 0.025, 2, 120, 60, 1200) == "every pair within +-2.5%"
    assert stop_reason([0.01, 0.04], 0.025, 2, 120, 60, 1200) is None  # one pair still wide: one more
    assert stop_reason([0.04], 0.025, AUTO_MAX_PROCESSES, 120, 60, 1200).startswith(f"{AUTO_MAX_PROCESSES} processes")
    assert stop_reason([0.04], 0.025, 3, 1150, 60, 1200) == "one more process would end past the budget (20 min)"
    assert stop_reason([], 0.025, 2, 120, 60, 1200) == "no Keras/torch pair has a precision to improve"


def _fake_process(levels, rng):
    """A stand-in for one `pytest bench/` process of `bench run`: a Keras/torch pair whose ratio is 2 times
    exp(a host state drawn per process), 12 blocks of 3 rounds, written where the process is told to."""
    from bench.store.files import write_csv, write_json
    from bench.store.schema import BENCHMARK_COLUMNS

    def run_backend(backend, args, log_path):
        d = Path(args.results_dir)
        state = math.exp(rng.normal(0, levels))
        rows = [benchmark_row("keras", "timedistributed", 0.002 * state), benchmark_row("torch", "broadcast", 0.001)]
        write_csv(d / "benchmarks.csv", rows, BENCHMARK_COLUMNS)
        raw.save(d, [_entry(r["framework"], r["head"], [[float(r["median_s"]) * math.exp(rng.normal(0, 0.01))] * 3
                                                        for _ in range(12)]) for r in rows], {})
        write_json(d / "environment.json", {"slices": {"s": {"date": "d", "run": {"wall_s": 1.0}}}})
        return 0
    return run_backend


@pytest.mark.parametrize("precision, budget_min, processes, reason", [
    (0.5, 20.0, 2, "every pair within +-50.0%"),  # reached with the first two
    (1e-4, 20.0, 6, "6 processes, the most --processes auto times"),  # never reached
    (1e-4, 1e-9, 2, "one more process would end past the budget"),  # no time for a third
])
def test_auto_processes_time_as_many_processes_as_the_pairs_need(tmp_path, monkeypatch, capsys, precision, budget_min,
                                                                  processes, reason):
    from argparse import Namespace

    from bench.analysis.processes import AUTO
    from bench.store.results import load_environment
    from bench.suite import backend_processes

    monkeypatch.setattr(backend_processes, "run_backend", _fake_process(0.05, np.random.default_rng(5)))
    args = Namespace(results_dir=str(tmp_path / "results"), precision=precision, auto_budget=budget_min)
    assert backend_processes.run_processes("tensorflow", args, tmp_path / "logs" / "run.log", AUTO) == 0
    out = capsys.readouterr().out
    assert f"after {processes} process(es): " in out and f"stop: {reason}" in out
    assert f"after {processes + 1} process(es)" not in out
    (environment,) = load_environment(tmp_path / "results")["slices"].values()
    assert environment["processes"] == processes and environment["processes_chosen"].startswith(f"auto: {reason}")
    keras = next(e for p in raw.files(tmp_path / "results") for e in raw.read_file(p)["benchmarks"]
                 if e["extra_info"]["case_key"]["framework"] == "keras")
    assert sorted(set(keras["extra_info"]["block_process"])) == list(range(processes))
