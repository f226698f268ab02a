"""Intervals, the run-to-run noise model, `bench stability`, raw rounds and the one-machine rule."""

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from bench.store import machine, noise, raw

from bench.commands import stability

from bench.analysis import stats
from bench.analysis.stats import Estimate
from bench.cli import main
from bench.store.schema import BENCHMARK_COLUMNS, COMPARISON_COLUMNS
from bench.analysis.derived import comparison_rows, timing
from bench.store.files import read_csv, write_csv, write_json
from bench.store.schema import MEASUREMENT_METHOD, case_key, key_cell, slice_of
from tests.helpers import benchmark_row


# --- statistics with a known answer ---------------------------------------------------------------


def test_bootstrap_variance_of_the_log_median_matches_theory():
    # lognormal rounds, sigma 0.1: var(log median) -> (pi / 2) sigma^2 / n for large n. One sample's
    # bootstrap estimate of it is itself noisy (it converges slowly): average over 30 samples.
    rng = np.random.default_rng(1)
    estimates = [stats.log_median_var(np.exp(rng.normal(0, 0.1, 401)), seed=i) for i in range(30)]
    assert np.mean(estimates) == pytest.approx(math.pi / 2 * 0.1**2 / 401, rel=0.2)
    with pytest.raises(ValueError, match="at least 3 positive rounds"):
        stats.log_median_var([0.1, 0.2])


def test_the_published_interval_is_a_confidence_interval_and_a_rerun_s_is_sqrt_2_wider():
    low, high = stats.interval(math.log(2.0), within_var=0.0, run_var=0.01)
    half = stats.Z95 * math.sqrt(0.01)
    assert (low, high) == pytest.approx((2 * math.exp(-half), 2 * math.exp(half)))
    rerun_low, rerun_high = stats.rerun_interval(math.log(2.0), within_var=0.0, run_var=0.01)
    assert math.log(rerun_high / rerun_low) == pytest.approx(math.sqrt(2) * math.log(high / low))
    assert stats.interval(0.0, 0.0, 0.0) == (1.0, 1.0)


def simulated_runs(pairs=400, runs=3, run_sd=0.05, within_sd=0.02, seed=0):
    """Runs whose log ratios scatter by run_sd between processes and within_sd from their rounds."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(0.5, 0.5, pairs)
    return [
        SimpleNamespace(
            pairs={(str(p),): Estimate(truth[p] + rng.normal(0, run_sd) + rng.normal(0, within_sd), within_sd**2)
                   for p in range(pairs)},
            cases={},
        )
        for _ in range(runs)
    ]


def test_pooled_run_variance_recovers_the_simulated_one():
    runs = simulated_runs()
    assert math.sqrt(stats.pooled_run_var(stability._by_key(runs, "pairs"))) == pytest.approx(0.05, rel=0.15)
    with pytest.raises(ValueError, match="two or more runs"):
        stats.pooled_run_var({"a": [Estimate(0.0, 0.0)]})


def test_rerun_intervals_cover_95_percent_when_the_noise_model_holds_and_rounds_alone_do_not():
    runs = simulated_runs(seed=2)
    rows = stability.stability_rows(runs, ratio_run_var=0.05**2)
    coverage = np.mean([r["coverage"] for r in rows])
    within_only = np.mean([r["within_only_coverage"] for r in rows])
    assert coverage == pytest.approx(0.95, abs=0.03)
    assert within_only < 0.6  # an interval from one run's rounds misses most reruns


def test_ratio_interval_from_rows_uses_raw_rounds_else_the_iqr():
    rng = np.random.default_rng(3)
    keras, torch = row("keras", "timedistributed", 0.004), row("torch", "broadcast", 0.002)
    rounds = {case_key(keras): [list(0.004 * np.exp(rng.normal(0, 0.02, 100)))],  # one block each
              case_key(torch): [list(0.002 * np.exp(rng.normal(0, 0.02, 100)))]}
    # no run-to-run term measured for this kind of slice: the run's own variance alone
    assert stats.ratio_interval(timing(keras, rounds), timing(torch, rounds), None) == \
        stats.ratio_interval(timing(keras, rounds), timing(torch, rounds), 0.0)
    low, high = stats.ratio_interval(timing(keras, rounds), timing(torch, rounds), 0.0)
    assert low < 2.0 < high and high / low < 1.05
    wide_low, wide_high = stats.ratio_interval(timing(keras, rounds), timing(torch, rounds), 0.1**2)
    assert wide_low < low and wide_high > high
    no_raw = stats.ratio_interval(timing(keras, {}), timing(torch, {}), 0.0)  # from iqr_s and rounds
    assert no_raw[0] < 2.0 < no_raw[1]
    pairs = comparison_rows([keras, torch], rounds, {slice_of(keras): {"run": 0.0, "set": 0.0}})
    assert (pairs[0]["ci_low"], pairs[0]["ci_high"]) == pytest.approx((low, high))


def blocks_with_drift(median, drift, rng, rounds=40):
    """Blocks of rounds around median * drift[b]: the machine's speed at block b's moment."""
    return [list(median * d * np.exp(rng.normal(0, 0.02, rounds))) for d in drift]


def test_paired_blocks_cancel_a_drift_both_arms_share_and_count_one_they_do_not():
    rng = np.random.default_rng(5)
    keras, torch = row("keras", "timedistributed", 0.004), row("torch", "broadcast", 0.002)
    drift = [1.0, 1.3, 0.9, 1.2, 1.1, 1.0, 1.25, 0.95, 1.15, 1.05]  # the machine's speed moved 40% between blocks
    shared = {case_key(keras): blocks_with_drift(0.004, drift, rng), case_key(torch): blocks_with_drift(0.002, drift, rng)}
    rounds_only = stats.rounds_var(timing(keras, shared)) + stats.rounds_var(timing(torch, shared))
    # each arm alone moved with the machine: its blocks say so, far beyond its rounds' bootstrap
    assert stats.case_within_var(timing(keras, shared)) > 5 * stats.rounds_var(timing(keras, shared))
    # the ratio did not move: paired blocks see only the rounds' noise inside each block (a block median of
    # 40 rounds at 2%, both arms, over 10 blocks), not the drift the bootstrap of all rounds sees
    inside_blocks = 2 * (1.2533 * 0.02) ** 2 / 40 / len(drift)
    assert stats.pair_within_var(timing(keras, shared), timing(torch, shared)) == pytest.approx(inside_blocks, rel=0.6)
    assert inside_blocks < rounds_only / 10
    # torch timed at other moments than Keras: the ratio moved, and the variance says so
    apart = {**shared, case_key(torch): blocks_with_drift(0.002, drift[::-1], rng)}
    assert stats.pair_within_var(timing(keras, apart), timing(torch, apart)) > 100 * inside_blocks
    # unequal block counts cannot be paired, nor too few (stats.MIN_PAIRED_BLOCKS): each arm's own variance, summed
    uneven = {**shared, case_key(torch): shared[case_key(torch)][:3]}
    few = {key: blocks[:5] for key, blocks in shared.items()}
    assert stats.pair_within_var(timing(keras, few), timing(torch, few)) == pytest.approx(
        stats.case_within_var(timing(keras, few)) + stats.case_within_var(timing(torch, few)))
    assert stats.pair_within_var(timing(keras, uneven), timing(torch, uneven)) == pytest.approx(
        stats.case_within_var(timing(keras, uneven)) + stats.case_within_var(timing(torch, uneven)))


def test_the_ratio_comes_from_paired_blocks_and_ignores_a_block_that_hit_one_arm():
    keras, torch = row("keras", "timedistributed", 0.004), row("torch", "broadcast", 0.002)
    level = [1.0, 1.3, 0.9, 1.2, 1.1, 1.0, 1.25, 0.95, 1.15, 1.05]  # the machine's speed, block by block
    hit = [1.3 if b in (2, 7) else 1.0 for b in range(10)]  # an episode slowed torch alone in two blocks
    rounds = {case_key(keras): [[0.004 * x] * 5 for x in level],
              case_key(torch): [[0.002 * x * h] * 5 for x, h in zip(level, hit)]}
    keras["median_s"], torch["median_s"] = (float(np.median(sum(rounds[case_key(r)], []))) for r in (keras, torch))
    assert stats.ratio(timing(keras, rounds), timing(torch, rounds)) == pytest.approx(2.0, rel=1e-12)
    # the quotient of the two medians over all rounds lets each median pick its own blocks
    assert abs(keras["median_s"] / torch["median_s"] / 2.0 - 1) > 0.02
    assert comparison_rows([keras, torch], rounds, {slice_of(keras): {"run": 0.0, "set": 0.0}})[0]["keras_over_torch"] == pytest.approx(2.0, rel=1e-12)
    # Hodges-Lehmann: the median of the means of every two block log ratios, each with itself
    d = np.log([1.0, 2.0, 4.0])
    assert stats.paired_log_ratio([[math.e ** x] for x in d], [[1.0]] * 3) == pytest.approx(np.median(
        [d[0], d[1], d[2], (d[0] + d[1]) / 2, (d[0] + d[2]) / 2, (d[1] + d[2]) / 2]))
    # nothing to pair (one block each, unequal counts, no raw rounds): the quotient of the medians
    one_block = {case_key(keras): [sum(rounds[case_key(keras)], [])],
                 case_key(torch): [sum(rounds[case_key(torch)], [])]}
    uneven = {**rounds, case_key(torch): rounds[case_key(torch)][:9]}
    for unpaired in (one_block, uneven, {}):
        assert stats.ratio(timing(keras, unpaired), timing(torch, unpaired)) == keras["median_s"] / torch["median_s"]


def test_an_interval_from_blocks_uses_student_t_with_blocks_minus_one_degrees_of_freedom():
    assert stats.t_quantile(0) == stats.t_quantile(1) == stats.Z95  # a variance from rounds alone
    assert stats.t_quantile(10) == pytest.approx(2.2622, abs=1e-4) and stats.t_quantile(5) == pytest.approx(2.7764, abs=1e-4)
    rng = np.random.default_rng(7)
    keras, torch = row("keras", "timedistributed", 0.004), row("torch", "broadcast", 0.002)
    drift = np.exp(rng.normal(0, 0.05, 10))
    rounds = {case_key(keras): blocks_with_drift(0.004, drift * np.exp(rng.normal(0, 0.03, 10)), rng),
              case_key(torch): blocks_with_drift(0.002, drift, rng)}
    e = stats.pair_estimate(timing(keras, rounds), timing(torch, rounds))
    assert e.blocks == 10 and e.log == pytest.approx(math.log(stats.ratio(timing(keras, rounds), timing(torch, rounds))))
    low, high = stats.ratio_interval(timing(keras, rounds), timing(torch, rounds), 0.01**2)
    assert math.log(high / low) / 2 == pytest.approx(stats.t_quantile(10) * math.sqrt(e.var + 0.01**2))
    # bench compare's rule takes the side with fewer blocks
    assert stats.compare_t(e.blocks, 5) == stats.t_quantile(5)


# --- the stability summary and compare's error rates, on synthetic runs -------------------------------


def test_summary_counts_pairs_within_5_and_10_percent_and_names_the_worst():
    runs = [SimpleNamespace(pairs={}, cases={}) for _ in range(2)]
    for key, (a, b) in {"one": (2.0, 2.04), "two": (1.0, 1.08), "three": (3.0, 4.5)}.items():
        runs[0].pairs[key], runs[1].pairs[key] = Estimate(math.log(a), 1e-6), Estimate(math.log(b), 1e-6)
    rows = stability.stability_rows(runs, ratio_run_var=0.0)
    for r, key in zip(rows, ["one", "two", "three"]):
        r.update(topology=key, size="mid", mode="train", keras_head="td", torch_head="bc")
    s = stability.summary(rows)
    assert s["within_5pct"] == pytest.approx(1 / 3) and s["within_10pct"] == pytest.approx(2 / 3)
    assert s["worst_pair"] == "three mid train td/bc" and s["worst_max_over_min"] == pytest.approx(1.5)
    assert s["coverage"] == 0.0  # intervals of width ~0 hold no other run's ratio


def test_median_change_between_runs_is_given_for_the_published_ratio_and_for_the_quotient_of_medians():
    from bench.analysis import generated_text

    runs = [SimpleNamespace(pairs={}, cases={}, quotients={}) for _ in range(3)]
    for i, (paired, quotient) in enumerate([(2.0, 2.0), (2.02, 2.1), (2.04, 1.9)]):
        for key in ("a", "b"):
            runs[i].pairs[key], runs[i].quotients[key] = Estimate(math.log(paired), 1e-6), math.log(quotient)
    changes = stability.median_changes(runs)
    # every two runs: paired 2.02/2.0, 2.04/2.0, 2.04/2.02, quotient 2.1/2.0, 2.0/1.9, 2.1/1.9; the middle one
    assert changes["median_change"] == pytest.approx(2.02 / 2.0 - 1)
    assert changes["median_change_quotient"] == pytest.approx(2.0 / 1.9 - 1)
    assert generated_text._changes({"median_change": "0.01", "median_change_quotient": "0.05"}) == "1.0% / 5.0%"
    assert generated_text._changes({"median_change": ""}) == "not recorded"  # a set analysed before it was recorded
    assert generated_text._when("2026-11-28T09:05:10+00:00 .. 2026-11-28T09:11:54+00:00") == "2026-11-28 09:05-09:11"
    assert generated_text._when("2026-11-28T23:55:10+00:00 .. 2026-11-29T00:03:54+00:00") == \
        "2026-11-28T23:55:10 .. 2026-11-29T00:03:54"  # over midnight: both dates
    # runs analysed without their quotients (synthetic runs elsewhere): not a number, not an error
    assert math.isnan(stability.median_changes([SimpleNamespace(pairs={}, cases={})] * 2)["median_change_quotient"])


def test_block_ratio_sd_is_the_median_spread_of_a_ratio_between_blocks_of_one_run():
    from bench.analysis import generated_text

    from bench.analysis.stats import paired_block_sd

    keras, torch = [[1.0, 1.0], [2.0, 2.0], [4.0]], [[1.0], [1.0, 1.0], [1.0]]  # block ratios 1, 2, 4
    assert paired_block_sd(keras, torch) == pytest.approx(math.log(2))  # log ratios 0, log 2, 2 log 2
    assert paired_block_sd(keras[:1], torch[:1]) is None and paired_block_sd(keras, torch[:2]) is None
    runs = [SimpleNamespace(pairs={}, block_sds={"a": sd, "b": 0.01}) for sd in (0.02, 0.04, 0.03)]
    assert stability.block_ratio_sd(runs) == pytest.approx(0.015)  # median of 0.01 x3, 0.02, 0.03, 0.04
    assert math.isnan(stability.block_ratio_sd([SimpleNamespace(pairs={})] * 2))  # runs without paired blocks
    assert (generated_text._sd("0.0312"), generated_text._sd("")) == ("0.031", "not recorded")  # older history rows lack it


def test_compare_s_false_alarms_on_runs_of_identical_code_under_its_joint_rule():
    case = lambda f, v: (Estimate(math.log(v), 1e-6), f)
    runs = [SimpleNamespace(pairs={"p": Estimate(math.log(0.5), 1e-6)}, cases={"a": case("keras", 0.01), "b": case("torch", 0.02)})
            for _ in range(3)]
    rates = stability.compare_error_rates(runs, time_run_var=0.0, threshold=0.1)
    assert (rates["aa_flagged"], rates["aa_cases"], rates["pair_aa_flagged"], rates["pair_aa_pairs"]) == (0, 6, 0, 3)
    assert "detect_rate" not in rates  # detection comes from runs with real extra work, not from scaled rounds
    # a ratio that moves 30% between runs is flagged in A/A unless the run-to-run term knows that noise
    noisy = [SimpleNamespace(pairs={"p": Estimate(math.log(r), 1e-6, 40)}, cases={}) for r in (0.5, 0.65)]
    assert stability.compare_error_rates(noisy, 0.0, 0.1)["pair_aa_flag_rate"] == 1.0
    assert stability.compare_error_rates(noisy, 0.0, 0.1, ratio_run_var=0.2**2)["pair_aa_flag_rate"] == 0.0


# --- the command, on run directories written here ---------------------------------------------------


def row(framework, head, median, **extra):
    return benchmark_row(framework, head, median, **{"iqr_s": median * 0.05, "rounds": 50, **extra})


def write_run(directory, keras_median, torch_median, seed):
    rng = np.random.default_rng(seed)
    rows = [row("keras", "timedistributed", keras_median), row("torch", "broadcast", torch_median)]
    write_csv(directory / "benchmarks.csv", rows, BENCHMARK_COLUMNS)
    entries = [raw.entry(r["framework"], "g", r, {}, {"data": list(r["median_s"] * np.exp(rng.normal(0, 0.02, 50)))})
               for r in rows]
    raw.save(directory, entries, {})
    return directory


def test_stability_from_runs_writes_its_files_and_the_intervals(tmp_path, capsys):
    runs = [write_run(tmp_path / f"run-{i}", k, 0.002, i) for i, k in enumerate([0.0040, 0.0041, 0.0043])]
    results = write_run(tmp_path / "results", 0.004, 0.002, 9)
    comparison_rows_before = read_csv(results / "benchmarks.csv")
    assert main(["stability", "--runs-from", *map(str, runs), "--results-dir", str(results)]) == 0
    out = capsys.readouterr().out
    assert "1 Keras/torch pairs over 3 runs: 100% within 10%" in out.replace("0% within 5% (max/min <= 1.05), ", "")
    (pair,) = read_csv(results / "stability.csv")
    assert json.loads(pair["ratios"]) == pytest.approx([2.0, 2.05, 2.15], rel=0.02)
    assert float(pair["max_over_min"]) == pytest.approx(1.075, rel=0.02)
    model = noise.load(results)
    assert model["runs"] == 3 and model["set"]["ratio_run_var"] > 0 and model["summary"]["pairs"] == 1
    assert model["ratio_run_var"] == model["set"]["ratio_run_var"]  # the only set in the history: pooled over one
    assert len(model["pooled_sets"]) == 1 and 0 <= model["pooled_coverage"] <= 1
    (comparison,) = read_csv(results / "comparison.csv")  # rewritten with the new noise model
    assert float(comparison["ci_low"]) < 2.0 < float(comparison["ci_high"])
    assert read_csv(results / "benchmarks.csv") == comparison_rows_before  # measurements untouched


@pytest.mark.parametrize("runs", ["0", "1", "two"])
def test_fewer_than_two_runs_is_a_one_line_error(tmp_path, capsys, runs):
    assert main(["stability", "--runs", runs, "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--runs must be an integer of 2 or more" in err and err.count("\n") == 1
    assert not any(tmp_path.iterdir())


def test_a_corrupt_raw_file_is_a_one_line_error_naming_it(tmp_path, capsys):
    runs = [write_run(tmp_path / f"run-{i}", 0.004, 0.002, i) for i in range(2)]
    bad = next((runs[1] / "raw").glob("*.json"))
    bad.write_text('{"benchmarks": [{"stats": {"data": [0.1, "x"]}}]}')
    assert main(["stability", "--runs-from", *map(str, runs), "--results-dir", str(tmp_path / "out")]) == 2
    assert main(["compare", str(runs[0]), str(runs[1])]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(str(bad) in line and "stats.data" in line for line in err)
    bad.write_text("{not json")
    assert main(["compare", str(runs[0]), str(runs[1])]) == 2
    assert f"{bad}: not a readable raw-timings file" in capsys.readouterr().err


def test_raw_files_merge_case_by_case_and_keys_are_normalised(tmp_path):
    a, b = row("keras", "timedistributed", 0.004), row("torch", "broadcast", 0.002)
    raw.save(tmp_path, [raw.entry("a", "g", a, {}, {"data": [1.0, 2.0, 3.0]})], {})
    raw.save(tmp_path, [raw.entry("b", "g", b, {}, {"data": [4.0, 5.0, 6.0]})], {})
    resaved = {**a, "batch": "32.0", "vocab_size": float("nan"), "threads": "1.0"}
    loaded = raw.load(tmp_path)
    assert loaded[case_key(resaved)] == [[1.0, 2.0, 3.0]] and len(loaded) == 2  # one block: no block_rounds
    assert [key_cell(v) for v in (1000, "1000.0", " 1000 ", "", None, "nan", 0.5, "n/a")] == \
        ["1000", "1000", "1000", "", "", "", "0.5", "n/a"]


def test_raw_blocks_split_the_rounds_and_bad_block_counts_name_the_file(tmp_path):
    a = row("keras", "timedistributed", 0.004)
    raw.save(tmp_path, [raw.entry("a", "g", a, {"block_rounds": [2, 1]}, {"data": [1.0, 2.0, 3.0]})], {})
    assert raw.load(tmp_path)[case_key(a)] == [[1.0, 2.0], [3.0]]
    path = next((tmp_path / "raw").glob("*.json"))
    doc = json.loads(path.read_text())
    doc["benchmarks"][0]["extra_info"]["block_rounds"] = [2, 2]  # 4 rounds claimed, 3 stored
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"block_rounds must be positive round counts adding up to the 3 rounds"):
        raw.load(tmp_path)


# --- one machine per result set ---------------------------------------------------------------


def foreign_results(tmp_path):
    other = {"cpu": "AMD EPYC 7B13", "cores": 64, "memory_gib": 256, "gpu": "none"}
    write_json(tmp_path / "environment.json", {"slices": {"keras_backend=tensorflow device=cpu": {"machine": other}}})
    return tmp_path


def test_a_results_directory_from_another_machine_is_refused(tmp_path, capsys):
    results = foreign_results(tmp_path)
    here = machine.fingerprint()
    with pytest.raises(machine.OtherMachine, match="AMD EPYC 7B13, 64 cores, 256 GiB.*this machine is"):
        machine.check_same_machine(results, here)
    machine.check_same_machine(results, {"cpu": "AMD EPYC 7B13", "cores": 64, "memory_gib": 256, "gpu": "none"})
    # slices saved before fingerprints: their cpu and cores decide
    write_json(results / "environment.json", {"slices": {"old": {"cpu": "AMD EPYC", "cores": 2}}})
    with pytest.raises(machine.OtherMachine, match="measured on AMD EPYC, 2 cores"):
        machine.check_same_machine(results, {**here, "cpu": "Intel(R) Xeon(R)"})
    foreign_results(tmp_path)
    before = (results / "environment.json").read_text()
    assert main(["run", "--backends", "torch", "--results-dir", str(results)]) == 2
    assert main(["stability", "--runs", "2", "--results-dir", str(results)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all("AMD EPYC 7B13" in line and here["cpu"] in line for line in err)
    assert (results / "environment.json").read_text() == before and sorted(p.name for p in results.iterdir()) == ["environment.json"]


def test_the_suite_refuses_before_timing_anything(tmp_path):
    import subprocess
    import sys

    results = foreign_results(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "bench/", "-p", "no:cacheprovider", "--benchmark-only",
         "--results-dir", str(results), "-k", "no_case_is_called_this"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "AMD EPYC 7B13" in done.stdout + done.stderr


def test_noise_file_is_checked(tmp_path):
    (tmp_path / "noise.json").write_text(json.dumps({"ratio_run_var": -1, "time_run_var": 0}))
    with pytest.raises(ValueError, match="noise.json: ratio_run_var must be a non-negative number"):
        noise.load(tmp_path)


def test_comparison_columns_carry_the_interval():
    assert COMPARISON_COLUMNS.index("ci_low") == COMPARISON_COLUMNS.index("keras_over_torch") + 1


def write_environment(directory, date, code=None, threads=1, blocks=5):
    env = {"date": date, "threads": threads, "blocks": blocks, "method": MEASUREMENT_METHOD, **({"code": code} if code else {})}
    name = f"keras_backend=tensorflow device=cpu profile=quick compile=off threads={threads}"
    write_json(directory / "environment.json", {"slices": {name: env}})


def test_each_set_of_runs_is_kept_in_the_history_and_a_set_analysed_again_replaces_its_row(tmp_path, capsys):
    from bench.analysis import generated_text

    first = [write_run(tmp_path / f"a-{i}", k, 0.002, i) for i, k in enumerate([0.0040, 0.0041, 0.0043])]
    second = [write_run(tmp_path / f"b-{i}", k, 0.002, i) for i, k in enumerate([0.0040, 0.0040, 0.0040])]
    for i, d in enumerate(first):
        write_environment(d, f"2026-11-28T09:0{i}:00+00:00", code="abc1234", threads=2, blocks=3)
    for i, d in enumerate(second):
        write_environment(d, f"2026-11-28T10:0{i}:00+00:00")
    results = tmp_path / "results"
    results.mkdir()
    for runs in (first, second, first):  # the first set again: its row is replaced, not added
        assert main(["stability", "--runs-from", *map(str, runs), "--results-dir", str(results)]) == 0
    history = read_csv(results / "stability_history.csv")
    # oldest set first, whatever the order of analysis
    assert [r["runs_taken"] for r in history] == ["2026-11-28T09:00:00+00:00 .. 2026-11-28T09:02:00+00:00",
                                                  "2026-11-28T10:00:00+00:00 .. 2026-11-28T10:02:00+00:00"]
    again, later = history
    # the runs' own settings, not the command's defaults; their code where recorded
    assert (again["threads"], again["blocks"], again["code"]) == ("2", "3", "abc1234")
    assert (later["threads"], later["blocks"], later["code"]) == ("1", "5", "")
    assert float(later["worst_max_over_min"]) < float(again["worst_max_over_min"])
    assert noise.load(results)["runs_taken"] == again["runs_taken"]  # noise.json: the last set analysed
    text = generated_text.stability_summary(results)
    assert "(taken 2026-11-28T09:00:00 .. 2026-11-28T09:02:00 UTC, code abc1234)" in text
    assert "| 2026" not in text  # the history table is the report's, not the README's block
    table = [line for line in generated_text.stability_history(results).splitlines() if line.startswith("| 2026")]
    assert len(table) == 2 and "abc1234" in table[0] and "not recorded" in table[1]
    assert float(later["median_change"]) == pytest.approx(0.0, abs=1e-9)  # the second set's ratio never moved
    assert float(again["median_change"]) > 0.01


def test_the_readme_shows_the_newest_sets_of_a_long_history_and_names_the_file_for_the_rest(tmp_path):
    from bench.analysis import generated_text

    row = {c: "0.5" for c in stability.HISTORY_COLUMNS}
    row.update(code="abc1234", profile="quick", keras_backend="tensorflow", threads="1", blocks="10", runs="3")
    rows = [{**row, "runs_taken": f"2026-11-28T{h:02d}:00:00+00:00 .. 2026-11-28T{h:02d}:08:00+00:00"}
            for h in range(generated_text.HISTORY_SHOWN + 2)]
    write_csv(tmp_path / "stability_history.csv", rows, stability.HISTORY_COLUMNS)
    text = generated_text.stability_history(tmp_path)
    table = [line for line in text.splitlines() if line.startswith("| 2026")]
    assert len(table) == generated_text.HISTORY_SHOWN and table[0].startswith("| 2026-11-28 02:00-02:08 ")
    assert f"The newest {generated_text.HISTORY_SHOWN} sets" in text and "and 2 older set(s)" in text
    write_csv(tmp_path / "stability_history.csv", rows[:3], stability.HISTORY_COLUMNS)
    assert "Every set" in generated_text.stability_history(tmp_path)
    rows[2].update(blocks="40", gc="off")  # the setting shows only where the collector was off
    write_csv(tmp_path / "stability_history.csv", rows[:3], stability.HISTORY_COLUMNS)
    text = generated_text.stability_history(tmp_path)
    assert text.count("GC off") == 1 and "1 thread(s), 40 blocks, GC off, 3 runs" in text


def test_a_history_written_before_a_column_was_added_is_read_with_that_column_empty(tmp_path, capsys):
    runs = [write_run(tmp_path / f"run-{i}", k, 0.002, i) for i, k in enumerate([0.0040, 0.0041, 0.0043])]
    results = tmp_path / "results"
    assert main(["stability", "--runs-from", *map(str, runs), "--results-dir", str(results)]) == 0
    (row,) = read_csv(results / "stability_history.csv")
    older = [c for c in stability.HISTORY_COLUMNS if c not in ("median_change", "median_change_quotient", "gc")]
    a_day_before = "2026-11-27T09:00:00+00:00 .. 2026-11-27T09:02:00+00:00"
    write_csv(results / "stability_history.csv", [{**row, "runs_taken": a_day_before}], older)
    assert main(["stability", "--runs-from", *map(str, runs), "--results-dir", str(results)]) == 0
    old, new = read_csv(results / "stability_history.csv")
    assert (old["runs_taken"], old["median_change"]) == (a_day_before, "") and float(new["median_change"]) > 0
    assert old["gc"] == "on"  # sets from before the setting was recorded ran with the collector on


def test_the_published_noise_is_pooled_over_every_set_of_the_history_with_the_same_settings(tmp_path, capsys):
    quiet = [write_run(tmp_path / f"q-{i}", 0.004, 0.002, i) for i in range(3)]  # same ratio in every run
    busy = [write_run(tmp_path / f"b-{i}", k, 0.002, i) for i, k in enumerate([0.0040, 0.0044, 0.0048])]
    results = tmp_path / "results"
    assert main(["stability", "--runs-from", *map(str, busy), "--results-dir", str(results)]) == 0
    busy_var = noise.load(results)["set"]["ratio_run_var"]
    assert main(["stability", "--runs-from", *map(str, quiet), "--results-dir", str(results)]) == 0
    model = noise.load(results)
    assert model["set"]["ratio_run_var"] < busy_var / 10  # the quiet set alone would narrow every interval
    assert model["ratio_run_var"] == pytest.approx((busy_var + model["set"]["ratio_run_var"]) / 2)
    assert len(model["pooled_sets"]) == 2 and len(read_csv(results / "stability_history.csv")) == 2
    assert "the mean over 2 set(s) with these settings" in capsys.readouterr().out
    # another thread count is another noise: not pooled with these
    rows = read_csv(results / "stability_history.csv")
    assert stability.pooled_noise([*rows, {**rows[0], "threads": "2", "ratio_run_sd": "1"}], model)["ratio_run_var"] \
        == pytest.approx(model["ratio_run_var"])
    # nor is a set timed with the garbage collector off during rounds
    assert model["gc"] == "on" and {r["gc"] for r in rows} == {"on"}
    assert stability.pooled_noise([*rows, {**rows[0], "gc": "off", "ratio_run_sd": "1"}], model)["ratio_run_var"] \
        == pytest.approx(model["ratio_run_var"])


def set_row(taken, mean, run_var=0.0, runs=3, head="broadcast", **settings):
    base = {"profile": "quick", "keras_backend": "tensorflow", "compile": "off", "threads": "1", "blocks": "40", "gc": "off"}
    key = {c: "" for c in stability.PAIR_KEY}
    key.update(topology="many_to_many", mode="train", size="mid", keras_head="timedistributed", torch_head=head)
    return {"runs_taken": taken, **base, **settings, **key, "runs": str(runs), "mean_log_ratio": str(mean),
            "run_var": str(run_var)}


def test_the_between_set_term_is_the_spread_of_set_means_beyond_what_their_runs_explain():
    settings = set_row("", 0)
    two_heads = [set_row("9h", 0.0), set_row("10h", 0.1), set_row("9h", 0.0, head="loop"), set_row("10h", 0.1, head="loop")]
    term = stability.between_set_var(two_heads, settings)
    assert term["ratio_set_var"] == pytest.approx(0.005) and term["sets_compared"] == ["10h", "9h"]
    # the runs' own spread explains part of it: their variance over their number is taken off
    noisy = [set_row("9h", 0.0, run_var=0.003), set_row("10h", 0.1, run_var=0.003)]
    assert stability.between_set_var(noisy, settings)["ratio_set_var"] == pytest.approx(0.005 - 0.001)
    # all of it, and more: floored at zero, not negative
    assert stability.between_set_var([set_row("9h", 0.0, 0.03), set_row("10h", 0.01, 0.03)], settings)["ratio_set_var"] == 0
    # sets of other settings are not compared with these; one set alone measures nothing
    other = [set_row("9h", 0.0), set_row("10h", 0.5, blocks="10")]
    assert stability.between_set_var(other, settings) == {"ratio_set_var": 0.0, "sets_compared": []}


def test_a_second_set_widens_every_published_interval_by_how_far_the_sets_disagree(tmp_path, capsys):
    first = [write_run(tmp_path / f"a-{i}", k, 0.002, i) for i, k in enumerate([0.0040, 0.0040, 0.0041])]
    later = [write_run(tmp_path / f"b-{i}", k, 0.002, i) for i, k in enumerate([0.0046, 0.0046, 0.0047])]
    for i, d in enumerate(first):
        write_environment(d, f"2026-11-28T09:0{i}:00+00:00")
    for i, d in enumerate(later):
        write_environment(d, f"2026-11-28T10:0{i}:00+00:00")
    results = write_run(tmp_path / "results", 0.004, 0.002, 9)
    write_environment(results, "2026-11-28T08:00:00+00:00")  # a slice of the kind, and method, the sets measured
    assert main(["stability", "--runs-from", *map(str, first), "--results-dir", str(results)]) == 0
    (before,) = read_csv(results / "comparison.csv")
    assert noise.load(results)["ratio_set_var"] == 0 and "not measured yet (one set" in capsys.readouterr().out
    assert main(["stability", "--runs-from", *map(str, later), "--results-dir", str(results)]) == 0
    model = noise.load(results)
    shift = math.log(0.0046 / 0.0040)  # the sets' means differ by about this, far beyond their runs' spread
    assert model["ratio_set_var"] == pytest.approx(shift ** 2 / 2, rel=0.3) and len(model["sets_compared"]) == 2
    assert "(2 sets compared)" in capsys.readouterr().out
    (after,) = read_csv(results / "comparison.csv")
    width = lambda row: math.log(float(row["ci_high"]) / float(row["ci_low"]))
    assert width(after) > width(before) * 1.5
    # analysed again, a set replaces its rows in stability_sets.csv rather than adding a third set
    assert main(["stability", "--runs-from", *map(str, later), "--results-dir", str(results)]) == 0
    assert len({r["runs_taken"] for r in read_csv(results / "stability_sets.csv")}) == 2
    # each set keeps its runs' log ratios and their mean within-run variance, one column per name
    sets = read_csv(results / "stability_sets.csv")
    header = (results / "stability_sets.csv").read_text().splitlines()[0].split(",")
    assert len(header) == len(set(header))
    runs = json.loads(sets[-1]["run_log_ratios"])
    assert len(runs) == 3 and float(sets[-1]["mean_log_ratio"]) == pytest.approx(sum(runs) / 3)
    assert 0 < float(sets[-1]["within_var"]) < float(sets[-1]["run_var"])


def test_noise_file_without_the_between_set_term_reads_as_zero_and_a_negative_one_is_refused(tmp_path):
    (tmp_path / "noise.json").write_text(json.dumps({"ratio_run_var": 0.001, "time_run_var": 0.002}))
    assert noise.rerun_ratio_var(noise.load(tmp_path)) == 0.001
    (tmp_path / "noise.json").write_text(json.dumps({"ratio_run_var": 0.001, "time_run_var": 0, "ratio_set_var": -1}))
    with pytest.raises(ValueError, match="noise.json: ratio_set_var must be a non-negative number"):
        noise.load(tmp_path)


def test_a_noise_model_widens_only_slices_of_its_own_kind_and_method():
    """Noise is never borrowed: another backend, compile setting or device, or a model or slice of an
    older measurement method, gets no rerun term (its interval says "this run's blocks only")."""
    model = {"keras_backend": "tensorflow", "compile": "off", "threads": 1, "profile": "quick",
             "method": MEASUREMENT_METHOD, "ratio_run_var": 0.01, "time_run_var": 0.02}
    name = "keras_backend={} device={} profile=quick compile={} threads=1"
    kinds = [("tensorflow", "cpu", "off"), ("jax", "cpu", "off"), ("tensorflow", "cpu", "on"), ("tensorflow", "cuda", "off")]
    env = {"slices": {name.format(*k): {"method": MEASUREMENT_METHOD} for k in kinds}}
    assert noise.run_vars(model, env) == {("tensorflow", "cpu", "quick", "off", "1"): {"run": 0.01, "set": 0.0, "pairs": {}}}
    assert noise.run_vars({**model, "method": 1}, env) == {}  # fitted under an older method's analysis
    older_slice = {"slices": {name.format(*kinds[0]): {}}}  # a slice from before the method was recorded
    assert noise.run_vars(model, older_slice) == {} and noise.run_vars(None, env) == {}


def test_every_local_run_takes_the_precision_and_blocks_asked_for(tmp_path, monkeypatch):
    """`bench stability --precision F` (local): each run's pytest command carries it, as `bench run`'s does."""
    from bench.cli import build_parser
    from bench.suite.backend_processes import pytest_command

    commands = []
    monkeypatch.setattr(stability, "run_backend",
                        lambda backend, args, log: commands.append(pytest_command(backend, args)) or 0)
    args = build_parser("stability").parse_args(["stability", "--keras-backend", "torch", "--profile", "seed",
                                                  "--precision", "0.05", "--blocks", "12", "--keep", str(tmp_path)])
    assert stability.take_runs(args, 2) == [tmp_path / "run-1", tmp_path / "run-2"]
    assert len(commands) == 2
    for command in commands:
        assert command[command.index("--precision") + 1] == "0.05" and command[command.index("--blocks") + 1] == "12"
