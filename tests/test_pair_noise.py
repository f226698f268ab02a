"""Each pair's run-to-run variance, shrunk toward the pool (bench/analysis/pair_noise.py), and where it is used."""

import json
import math

import numpy as np
import pytest

from bench.analysis import pair_noise
from bench.analysis.derived import comparison_rows
from bench.analysis import change_tests
from bench.commands import stability
from bench.store import noise
from bench.store.schema import PAIR_KEY, pair_key
from bench.analysis.stats import Estimate
from tests.helpers import benchmark_row


def test_trigamma_inverse_inverts_trigamma():
    for x in (0.05, 0.7, 2.0, 15.0, 300.0):
        assert pair_noise.trigamma_inverse(pair_noise.trigamma(x)) == pytest.approx(x, rel=1e-6)


def _sample_variances(true_vars, df, rng):
    return [v * rng.chisquare(df) / df for v in true_vars]


def test_pairs_of_one_true_variance_all_get_the_pool():
    """Sample variances that differ no more than chi-squared with their degrees of freedom allows: the
    prior's degrees of freedom are infinite (or huge) and every pair gets nearly the same variance."""
    rng = np.random.default_rng(1)
    sampled = _sample_variances([0.004] * 300, 4, rng)
    prior_var, prior_df = pair_noise.prior(sampled, [4] * 300)
    assert prior_var == pytest.approx(0.004, rel=0.15)
    assert prior_df > 50
    posts = [pair_noise.posterior(v, 4, prior_var, prior_df) for v in sampled]
    assert max(posts) / min(posts) < 1.2 < max(sampled) / min(sampled)


def test_pairs_whose_true_variances_differ_keep_part_of_their_own():
    """True variances spread over a factor of 100 (log-normal): the prior is finite, each posterior lies
    between its own sample variance and the prior, and the posteriors are closer to the truth than the
    pool is, on average over pairs (log scale)."""
    rng = np.random.default_rng(2)
    true = list(np.exp(rng.normal(math.log(0.003), 1.2, 400)))
    sampled = _sample_variances(true, 4, rng)
    prior_var, prior_df = pair_noise.prior(sampled, [4] * len(sampled))
    assert math.isfinite(prior_df) and 0.5 < prior_df < 20
    posts = [pair_noise.posterior(v, 4, prior_var, prior_df) for v in sampled]
    assert all(min(v, prior_var) <= p <= max(v, prior_var) for v, p in zip(sampled, posts))
    err = lambda est: np.mean([(math.log(e) - math.log(t)) ** 2 for e, t in zip(est, true)])
    pool = float(np.mean(sampled))
    assert err(posts) < err([pool] * len(true)) and err(posts) < err(sampled)


def set_row(taken, run_var, within_var, head, runs=3, size="mid"):
    key = {c: "" for c in PAIR_KEY}
    key.update(keras_backend="tensorflow", profile="quick", device="cpu", compile="off", threads="1",
               topology="many_to_many", mode="train", size=size, keras_head="timedistributed", torch_head=head)
    return {"runs_taken": taken, **key, "runs": str(runs), "run_var": str(run_var), "within_var": within_var,
            "mean_log_ratio": "0.1"}


def test_a_pair_s_sets_are_pooled_by_degrees_of_freedom_and_rows_without_within_var_are_left_out():
    rows = [set_row("9h", 0.002, "0.0005", "loop"), set_row("10h", 0.006, "0.0005", "loop", runs=5),
            set_row("9h", 0.010, "0.001", "broadcast"), set_row("9h", 0.5, "", "dense3d")]
    fitted = pair_noise.pair_run_vars(rows)
    assert fitted["pair_prior"]["pairs"] == 2 and len(fitted["pairs"]) == 2  # dense3d: no within_var
    loop_var = (2 * 0.002 + 4 * 0.006) / 6  # 2 and 4 degrees of freedom
    by_head = {p["torch_head"]: p for p in fitted["pairs"]}
    assert by_head["loop"]["df"] == 6 and by_head["broadcast"]["df"] == 2
    prior_var, prior_df = pair_noise.prior([loop_var, 0.010], [6, 2])
    expected = pair_noise.posterior(loop_var, 6, prior_var, prior_df) - 0.0005
    assert by_head["loop"]["run_var"] == pytest.approx(expected)
    # one pair alone has nothing to be shrunk toward
    assert pair_noise.pair_run_vars(rows[:1]) == {"pairs": [], "pair_prior": None}


def test_a_run_var_below_the_within_run_variance_is_floored_at_zero():
    rows = [set_row("9h", 0.0001, "0.01", "loop"), set_row("9h", 0.0001, "0.01", "broadcast")]
    assert all(p["run_var"] == 0.0 for p in pair_noise.pair_run_vars(rows)["pairs"])


def test_noise_json_s_pair_terms_widen_their_own_pair_and_others_take_the_pool(tmp_path):
    quiet = set_row("", 0, "", "broadcast")
    loud = set_row("", 0, "", "loop")
    model = {"keras_backend": "tensorflow", "compile": "off", "threads": 1, "profile": "quick", "method": 2,
             "ratio_run_var": 0.001, "time_run_var": 0.002, "ratio_set_var": 0.0005,
             "pairs": [{**{c: quiet[c] for c in PAIR_KEY}, "run_var": 0.0, "df": 4},
                       {**{c: loud[c] for c in PAIR_KEY}, "run_var": 0.04, "df": 4}]}
    (tmp_path / "noise.json").write_text(json.dumps(model))
    loaded = noise.load(tmp_path)
    assert noise.pair_rerun_vars(loaded) == {pair_key(quiet): pytest.approx(0.0005), pair_key(loud): pytest.approx(0.0405)}
    # a file whose pairs are not what it says: one line naming the file
    (tmp_path / "noise.json").write_text(json.dumps({**model, "pairs": [{"run_var": -1}]}))
    with pytest.raises(ValueError, match="noise.json: each pair's run_var must be a non-negative number"):
        noise.load(tmp_path)
    (tmp_path / "noise.json").write_text(json.dumps({**model, "pairs": 3}))
    with pytest.raises(ValueError, match="noise.json: pairs must be a list"):
        noise.load(tmp_path)


def _rows(heads):
    common = dict(topology="many_to_many", mode="train", size="mid", keras_backend="tensorflow", profile="quick",
                  device="cpu", compile="off", threads=1, batch=32, timesteps=50, features=16, units=64, outputs=1)
    timed = dict(iqr_s=0.0, rounds=100)  # no rounds' spread: the interval is the rerun term alone
    keras = benchmark_row(framework="keras", head="timedistributed", median_s=0.002, **common, **timed)
    return [keras, *(benchmark_row(framework="torch", head=h, median_s=0.001, **common, **timed) for h in heads)]


def test_comparison_intervals_take_each_pair_s_own_term():
    rows = _rows(["broadcast", "loop"])
    key = ("tensorflow", "cpu", "quick", "off", "1")
    loud = pair_key({**rows[0], "keras_head": "timedistributed", "torch_head": "loop"})
    out = comparison_rows(rows, {}, {key: {"run": 0.001, "set": 0.0, "pairs": {loud: 0.04}}})
    width = {r["torch_head"]: math.log(r["ci_high"] / r["ci_low"]) for r in out}
    assert width["broadcast"] == pytest.approx(2 * 1.96 * math.sqrt(0.001), rel=1e-3)
    assert width["loop"] == pytest.approx(2 * 1.96 * math.sqrt(0.04), rel=1e-3)


def test_compare_tests_a_pair_with_its_own_term():
    k = ("a",)
    old = {k: (Estimate(0.0, 0.0, 40), {}), ("b",): (Estimate(0.0, 0.0, 40), {})}
    new = {k: (Estimate(0.1, 0.0, 40), {}), ("b",): (Estimate(0.1, 0.0, 40), {})}
    keys, tests = change_tests.ratio_tests(old, new, 0.001, {k: 0.05})
    var = dict(zip(keys, (t.var for t in tests)))
    assert var[k] == pytest.approx(0.1) and var[("b",)] == pytest.approx(0.002)


def test_held_out_coverage_reports_the_pool_beside_the_per_pair_terms():
    """Two pairs: one moves 0.2 in log between runs, one not at all. The pool's term (their mean) covers
    the quiet one and misses the loud one; its own term covers the loud one."""
    runs = [stability.SimpleNamespace(pairs={("quiet",): Estimate(0.0, 1e-6, 40), ("loud",): Estimate(x, 1e-6, 40)})
            for x in (0.0, 0.2, -0.2)]
    model_pairs = {("quiet",): 0.0, ("loud",): 0.04}
    rows = stability.stability_rows(runs, 0.002, model_pairs)
    by = {r["keras_backend"]: r["coverage"] for r in rows}
    assert by["loud"] == 1.0 and by["quiet"] == 1.0
    pooled = {r["keras_backend"]: r["coverage"] for r in stability.stability_rows(runs, 0.002)}
    assert pooled["loud"] < 1.0


def test_compare_s_held_out_false_alarms_use_the_earlier_sets_noise_model():
    """A/A on this set's runs judged with a noise model fitted without them: a model that knows a pair
    moves this much between runs flags nothing; one fitted to quieter sets flags it."""
    def run(x):
        return stability.SimpleNamespace(pairs={("p",): Estimate(x, 1e-6, 40)}, cases={("c",): (Estimate(0.0, 1e-6, 40), "torch")})
    runs = [run(0.0), run(0.3)]
    assert stability.held_out_error_rates(runs, None, 0.10) == {}
    quiet = {"time_run_var": 0.0, "ratio_run_var": 1e-6}
    assert stability.held_out_error_rates(runs, quiet, 0.10)["held_out_pair_aa_flagged"] == 1
    # the pair keys of these runs are one cell long, not PAIR_KEY-long: give the loud term through the pool
    assert stability.held_out_error_rates(runs, {**quiet, "ratio_run_var": 0.5}, 0.10)["held_out_pair_aa_flagged"] == 0
