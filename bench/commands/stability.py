"""`python -m bench stability [--runs 3] [--profile quick]`: does each ratio hold on a rerun?

Times the profile RUNS times, each in its own `pytest bench/` process (as
`python -m bench run` launches them), each into its own results directory
(kept under --keep, else temporary). From the runs' rows and raw rounds:

- the machine's run-to-run noise (bench/analysis/stats.py pooled_run_var), for the
  Keras/torch ratios and for single case times, saved to RESULTS/noise.json;
  bench/analysis/derived.py widens every interval by it, `bench compare` its test;
- RESULTS/stability.csv, one row per Keras/torch pair (comparison.csv's
  key): its ratio in each run, max / min, each run's interval, and coverage
  (the share of other runs whose ratio lies inside this run's interval);
- `bench compare`'s rule on every two runs of identical code (A/A: the cases
  and ratios it flags, all tested together at a 5% false discovery rate).
  Detection is measured on runs with real extra work (--extra-work), not here;
- held-out coverage: this set's reruns against the rerun intervals of a noise
  model fitted to the earlier sets with the same settings and method only;
  with no earlier set, the newest run against the runs before it
  (held_out_coverage).

The in-sample coverage (stability.csv, the noise term estimated from the
runs it is then checked on) is kept beside it; with --noise-from DIR the
check uses another noise.json instead. --runs-from DIR DIR ... analyses runs
already taken.

With --cluster ADDRESS each run is a cluster run of the slice (bench/cluster/driver.py
stability_runs): its problems are Ray tasks on the cluster's timing nodes, merged into the
run's directory; the runs are taken one after another and analysed as local runs are, and the
files above go to results/<machine>/ (under --results-dir, the root there as for `run
--cluster`) of the nodes' machine. A set of runs is one machine's: a cluster whose timing
nodes are of two machine kinds is refused, one line, before anything is timed.

Each set's per-pair means go to RESULTS/stability_sets.csv, and noise.json's
between-set term (between_set_var) compares the sets taken with the same
settings: how far a ratio moves from one set (one hour) to another beyond
what the runs inside each set explain. Every published interval includes it.

RESULTS/comparison.csv and onnx.csv, if present, are written again with the new intervals.
"""

from __future__ import annotations

import itertools
import json
import math
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from ..cluster import add_cluster_arguments
from ..cluster.connect import import_ray
from ..store import layout, noise, raw, lock
from .command_args import UsageError, parse_threshold, results_to_write
from ..store.machine import OtherMachine, check_same_machine, fingerprint
from ..suite.options import LIMITS, add_argparse_options
from ..analysis import block_order
from ..analysis.pair_noise import pair_run_vars
from ..analysis.pairs import PAIR_KEY, pair_key, pair_measurements, pair_name
from ..suite.runtime import keras_backend
from ..suite.backend_processes import run_backend
from ..store.schema import (COMMAND_FILES, FILES, GC_BEFORE_RECORDED, METHOD_BEFORE_RECORDED, case_key, is_timed,
                            keras_torch_pairs)
from ..analysis.derived import comparison_row, timing
from ..store.results import load_benchmarks, runs_provenance
from ..analysis.save import save_run
from ..analysis.stats import (
    ChangeTest, case_estimate, judge, paired_block_sd, pooled_run_var, rerun_interval, t_quantile,
)
from ..store.files import read_csv, write_csv
from ..suite.environment import today

STABILITY_FILE = COMMAND_FILES["stability"]
STABILITY_COLUMNS = [*PAIR_KEY, "runs", "ratios", "max_over_min", "ci_lows", "ci_highs", "coverage",
                     "within_only_coverage"]
# One row per set of runs analysed into a results directory: the same code gives other
# figures on a quiet host than on a busy one, and one set alone hides that.
HISTORY_FILE = COMMAND_FILES["stability_history"]
HISTORY_SUMMARY = ["pairs", "within_5pct", "within_10pct", "median_max_over_min", "worst_pair", "worst_max_over_min",
                   "held_out_coverage", "held_out_min_pair",
                   "coverage", "within_only_coverage", "median_change", "median_change_quotient", "block_ratio_sd"]
HISTORY_RATES = ["aa_flag_rate", "detect_rate", "pair_aa_flag_rate", "pair_detect_rate"]
NOISE_SETTINGS = ("profile", "keras_backend", "compile", "threads", "blocks", "gc", "method")  # sets pooled into noise.json
HISTORY_COLUMNS = ["runs_taken", "code", "profile", "keras_backend", "compile", "threads", "blocks", "gc", "method", "runs",
                   *HISTORY_SUMMARY, "ratio_run_sd", "time_run_sd", *HISTORY_RATES, "analysed"]


# One row per set and Keras/torch pair: the mean of the pair's log ratio over the set's runs and
# their variance, what between_set_var compares across sets.
SETS_FILE = COMMAND_FILES["stability_sets"]
# Each run's log ratio and the mean within-run variance are kept too: with them a later study can fit a
# pair-level run component (Kalibera & Jones) on sets it did not fit to; stability.csv holds only the newest set.
SETS_COLUMNS = ["runs_taken", *NOISE_SETTINGS, *(c for c in PAIR_KEY if c not in NOISE_SETTINGS), "runs",
                "mean_log_ratio", "run_var", "within_var", "run_log_ratios"]


def parse_runs(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 2:
        raise UsageError(f"--runs must be an integer of 2 or more (one run cannot show a rerun); got {value!r}")
    if n > LIMITS["runs"]:
        raise UsageError(f"--runs must be at most {LIMITS['runs']} (bench/suite/options.py LIMITS), got {n}")
    return n


def add_arguments(parser) -> None:
    parser.add_argument("--runs", type=str, default="3", help="processes to time the profile in (default: %(default)s)")
    add_argparse_options(parser, ("--profile", "--compile", "--blocks", "--precision", "--results-dir", "--keras-backend",
                                  "--threads"))
    parser.set_defaults(compile="off", keras_backend=keras_backend())
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep each run's results in DIR/run-K (default: temporary)")
    parser.add_argument("--runs-from", type=Path, nargs="+", metavar="DIR", help="analyse these run directories; time nothing")
    parser.add_argument("--noise-from", type=Path, metavar="DIR",
                        help="check coverage and compare's error rates with DIR's noise.json instead of these runs' own")
    parser.add_argument("--threshold", type=parse_threshold, default="10%", help="bench compare's threshold (default: %(default)s)")
    add_cluster_arguments(parser, resume=False)
    parser.add_argument("pytest_args", nargs="*", help="passed on to pytest after --")


# --- one run's measurements -------------------------------------------------------------------


def run_measurements(run_dir: Path) -> SimpleNamespace:
    """A run directory's pairs (key -> Estimate of the log ratio), cases (key -> (Estimate of the log median,
    framework)) and quotients (key -> log of the quotient of the pair's two medians)."""
    try:
        rows = load_benchmarks(run_dir)
        rounds = raw.load(run_dir)
        starts = raw.block_starts(run_dir)
    except ValueError as e:
        raise UsageError(str(e)) from e
    if not rows:
        raise UsageError(f"{run_dir}: no {FILES['benchmarks']} with rows")
    by_key = {case_key(r): r for r in rows}
    measured = pair_measurements(rows, rounds)
    pairs = {key: estimate for key, (estimate, _) in measured.items()}
    # the same ratios as the quotient of the two medians over all rounds, which the paired estimate replaced
    quotients = {key: math.log(p["keras_median_s"] / p["torch_median_s"]) for key, (_, p) in measured.items()}
    cases = {key: (case_estimate(timing(r, rounds)), r["framework"]) for key, r in by_key.items() if is_timed(r)}
    block_sds = {}  # key -> sd of the pair's per-block log ratios
    for k, t in keras_torch_pairs(rows, is_timed):
        sd = paired_block_sd(timing(k, rounds).blocks, timing(t, rounds).blocks)
        if sd is not None:
            block_sds[pair_key(comparison_row(k, t))] = sd
    return SimpleNamespace(pairs=pairs, cases=cases, quotients=quotients, block_sds=block_sds,
                           order_effects=block_order.order_effects(rows, rounds, starts))


# --- the analysis (pure: tested on synthetic runs) ---------------------------------------------


def noise_model(runs: list) -> dict:
    return {
        "ratio_run_var": pooled_run_var(_by_key(runs, "pairs")),
        "time_run_var": pooled_run_var(_by_key(runs, "cases")),
    }


def _by_key(runs: list, what: str) -> dict:
    """key -> the Estimate of each run that has it ("pairs" or "cases")."""
    out: dict = {}
    for run in runs:
        for key, value in getattr(run, what).items():
            out.setdefault(key, []).append(value if what == "pairs" else value[0])
    return out


def stability_rows(runs: list, ratio_run_var: float, pair_run_vars: dict | None = None) -> list[dict]:
    """One row per pair seen in two or more runs: ratios, max/min, intervals, coverage. The intervals add
    the pair's own rerun variance (`pair_run_vars`, noise.pair_rerun_vars) where given, else `ratio_run_var`."""
    out = []
    for key, values in _by_key(runs, "pairs").items():
        if len(values) < 2:
            continue
        ratios = [math.exp(e.log) for e in values]
        run_var = (pair_run_vars or {}).get(key, ratio_run_var)
        ci = [rerun_interval(e.log, e.var, run_var, t_quantile(e.blocks)) for e in values]
        within_only = [rerun_interval(e.log, e.var, 0.0, t_quantile(e.blocks)) for e in values]
        out.append({
            **dict(zip(PAIR_KEY, key)), "runs": len(values), "ratios": ratios,
            "max_over_min": max(ratios) / min(ratios),
            "ci_lows": [lo for lo, _ in ci], "ci_highs": [hi for _, hi in ci],
            "coverage": _coverage(ratios, ci), "within_only_coverage": _coverage(ratios, within_only),
        })
    return out


def _median_change(logs_per_run: list[dict]) -> float:
    """Median of |log r_i - log r_j| over keys and every two runs, as a relative change."""
    changes = [abs(a[key] - b[key]) for a, b in itertools.combinations(logs_per_run, 2) for key in a.keys() & b.keys()]
    return math.expm1(statistics.median(changes)) if changes else float("nan")


def median_changes(runs: list) -> dict:
    """A ratio's median change between two runs, as published (paired blocks) and as the quotient
    of the two medians over all rounds would have given it (bench/analysis/stats.py, `ratio`)."""
    return {"median_change": _median_change([{k: e.log for k, e in r.pairs.items()} for r in runs]),
            "median_change_quotient": _median_change([getattr(r, "quotients", {}) for r in runs])}


def block_ratio_sd(runs: list) -> float:
    """How far a ratio moves between the blocks of one run: the sd of its per-block log ratios, median
    over pairs and runs. What a noisier hour of the host shows first, while the run-to-run term may stay 0;
    and the figure that says whether shorter blocks pair better (docs/methods.md, "How a run measures")."""
    spreads = [sd for r in runs for sd in getattr(r, "block_sds", {}).values()]
    return statistics.median(spreads) if spreads else float("nan")


def _coverage(ratios: list[float], intervals: list[tuple]) -> float:
    """Share of ordered run pairs (i, j), i != j, with run j's ratio inside run i's interval."""
    hits = [lo <= ratios[j] <= hi for i, (lo, hi) in enumerate(intervals) for j in range(len(ratios)) if j != i]
    return sum(hits) / len(hits)


def compare_error_rates(runs: list, time_run_var: float, threshold: float, ratio_run_var: float = 0.0,
                        pair_run_vars: dict | None = None) -> dict:
    """bench compare's rule (stats.judge: every case and Keras/torch ratio of two runs tested together,
    false discovery rate 5%) on every two runs of identical code: the share flagged, cases and ratios (A/A).

    Detection is not estimated here: scaling a run's recorded rounds only adds a constant to every log
    time and leaves the noise as it was, a check that cannot fail. It is measured on runs with real extra
    work (`pytest bench/ --extra-work torch=0.1`, bench/suite/extra_work.py) compared with clean ones.
    """
    aa, pair_aa = [], []
    for old, new in itertools.combinations(runs, 2):
        case_keys = sorted(old.cases.keys() & new.cases.keys(), key=str)
        pair_keys = sorted(old.pairs.keys() & new.pairs.keys(), key=str)
        tests = [ChangeTest(new.cases[k][0].log - old.cases[k][0].log,
                            old.cases[k][0].var + new.cases[k][0].var + 2 * time_run_var,
                            min(old.cases[k][0].blocks, new.cases[k][0].blocks)) for k in case_keys]
        tests += [ChangeTest(new.pairs[k].log - old.pairs[k].log,
                             old.pairs[k].var + new.pairs[k].var + 2 * (pair_run_vars or {}).get(k, ratio_run_var),
                             min(old.pairs[k].blocks, new.pairs[k].blocks)) for k in pair_keys]
        verdicts = judge(tests, threshold)
        aa += [v != "" for v in verdicts[:len(case_keys)]]
        pair_aa += [v != "" for v in verdicts[len(case_keys):]]
    rate = lambda xs: (sum(xs) / len(xs)) if xs else float("nan")
    return {"aa_flag_rate": rate(aa), "aa_cases": len(aa), "aa_flagged": sum(aa),
            "pair_aa_flag_rate": rate(pair_aa), "pair_aa_pairs": len(pair_aa), "pair_aa_flagged": sum(pair_aa)}


def earlier_noise(history: list[dict], sets: list[dict], record: dict) -> dict | None:
    """The noise model the sets before this one give (pooled as published, this set left out), or None."""
    before = [r for r in _with_settings(history, record) if r.get("runs_taken") != record["runs_taken"]]
    if not before:
        return None
    other_sets = [r for r in sets if r.get("runs_taken") != record["runs_taken"]]
    return {**pooled_noise(before, record), **between_set_var(other_sets, record),
            **pair_run_vars(_with_settings(other_sets, record))}


def held_out_error_rates(runs: list, earlier_model: dict | None, threshold: float) -> dict:
    """compare's A/A on this set's runs with the noise model of the earlier sets (fitted without these
    runs, as a user's compare would be), as held_out_* keys; none without earlier sets."""
    if earlier_model is None:
        return {}
    rates = compare_error_rates(runs, earlier_model["time_run_var"], threshold, earlier_model["ratio_run_var"],
                                noise.pair_vars(earlier_model))
    return {f"held_out_{k}": v for k, v in rates.items()}


def held_out_coverage(runs: list, earlier_model: dict | None) -> dict:
    """Coverage checked on data the noise model was not fitted to.

    With a model fitted to earlier sets only (`earlier_model`, this set left out of the pooling): the
    share of this set's run pairs (i, j) whose run j ratio falls in run i's rerun interval, per pair and
    overall. Without earlier sets: the newest run held out, its ratio against the rerun intervals of the
    runs before it, with the run-to-run term fitted to those runs alone. Targets: 90% overall, no pair
    below 2/3 (docs/methods.md).
    """
    pooled = {}
    if earlier_model is not None:
        rows = stability_rows(runs, noise.rerun_ratio_var(earlier_model), noise.pair_rerun_vars(earlier_model))
        per_pair = [r["coverage"] for r in rows]
        how = f"this set's runs against a noise model of {len(earlier_model.get('pooled_sets') or [])} earlier set(s)"
        if earlier_model.get("pairs"):  # the same check with the pool alone, what the per-pair terms must beat
            alone = [r["coverage"] for r in stability_rows(runs, noise.rerun_ratio_var(earlier_model))]
            pooled = {"held_out_pool_coverage": statistics.fmean(alone), "held_out_pool_min_pair": min(alone)}
            how += ", each pair's own run-to-run term shrunk toward the pool"
    else:
        if len(runs) < 3:
            return {"held_out_coverage": float("nan"), "held_out_min_pair": float("nan"), "held_out_how":
                    "not measured: it needs an earlier set with these settings, or three runs in this one"}
        fitted, newest = runs[:-1], runs[-1]
        run_var = pooled_run_var(_by_key(fitted, "pairs"))
        per_pair = []
        for key, e in newest.pairs.items():
            earlier = [r.pairs[key] for r in fitted if key in r.pairs]
            if earlier:
                hits = [lo <= math.exp(e.log) <= hi for lo, hi in
                        (rerun_interval(x.log, x.var, run_var, t_quantile(x.blocks)) for x in earlier)]
                per_pair.append(sum(hits) / len(hits))
        how = f"the newest run against the rerun intervals of the {len(fitted)} before it, noise fitted to those alone"
    if not per_pair:
        return {"held_out_coverage": float("nan"), "held_out_min_pair": float("nan"), "held_out_how": how}
    return {"held_out_coverage": statistics.fmean(per_pair), "held_out_min_pair": min(per_pair),
            "held_out_pairs_below_two_thirds": sum(c < 2 / 3 for c in per_pair), "held_out_how": how, **pooled}


def summary(rows: list[dict]) -> dict:
    spreads = [r["max_over_min"] for r in rows]
    worst = max(rows, key=lambda r: r["max_over_min"])
    return {
        "pairs": len(rows),
        "within_5pct": sum(s <= 1.05 for s in spreads) / len(rows),
        "within_10pct": sum(s <= 1.10 for s in spreads) / len(rows),
        "median_max_over_min": statistics.median(spreads),
        "worst_max_over_min": worst["max_over_min"], "worst_pair": pair_name(worst),
        "coverage": statistics.fmean(r["coverage"] for r in rows),
        "within_only_coverage": statistics.fmean(r["within_only_coverage"] for r in rows),
    }


def format_summary(s: dict, rates: dict, record: dict, used: dict) -> str:
    return "\n".join([
        f"{s['pairs']} Keras/torch pairs over {record['runs']} runs: {s['within_5pct']:.0%} within 5% (max/min <= 1.05), "
        f"{s['within_10pct']:.0%} within 10%; median max/min {s['median_max_over_min']:.3f}",
        f"worst pair: {s['worst_pair']} (max/min {s['worst_max_over_min']:.3f})",
        f"a ratio's median change between two runs: {s['median_change']:.2%} from paired blocks (as published); "
        f"{s['median_change_quotient']:.2%} as the quotient of the two medians over all rounds; "
        f"sd of a log ratio between the blocks of one run {s['block_ratio_sd']:.4f} (median over pairs)",
        f"order within a block (ABBA): a ratio with Keras first over the same ratio with torch first, mean over "
        f"{s['order_pairs']} pair-runs {s['order_effect']:+.2%} (standard error {s['order_effect_se']:.2%})",
        f"interval coverage (a run's ratio inside another run's interval): {s['coverage']:.0%}; "
        f"from one run alone (its blocks and rounds, no run-to-run term): {s['within_only_coverage']:.0%}",
        f"run-to-run sd of log ratio {math.sqrt(used['ratio_run_var']):.4f}, of log time {math.sqrt(used['time_run_var']):.4f}"
        f" ({record['checked_with']})",
        f"bench compare on these runs (every case and ratio of two runs tested together, false discovery rate 5%): "
        f"A/A flags {rates['aa_flagged']} of {rates['aa_cases']} case tests and {rates['pair_aa_flagged']} of "
        f"{rates['pair_aa_pairs']} ratio tests with the noise estimated from these runs" + (
            f"; with the earlier sets' noise model (held out): {rates['held_out_aa_flagged']} of "
            f"{rates['held_out_aa_cases']} and {rates['held_out_pair_aa_flagged']} of {rates['held_out_pair_aa_pairs']}"
            if "held_out_aa_cases" in rates else "") + "; detection is measured with --extra-work runs (docs/methods.md)",
        f"held-out coverage ({s['held_out_how']}): {s['held_out_coverage']:.0%}, lowest pair "
        f"{s['held_out_min_pair']:.0%} (targets: 90%, no pair below 67%)" + (
            f"; with the pool's term for every pair: {s['held_out_pool_coverage']:.0%}, lowest pair "
            f"{s['held_out_pool_min_pair']:.0%}" if "held_out_pool_coverage" in s else ""),
        f"published noise model (noise.json, every interval in results/): the mean over {len(record['pooled_sets'])} "
        f"set(s) with these settings in {HISTORY_FILE}: run-to-run sd of log ratio {math.sqrt(record['ratio_run_var']):.4f}, "
        f"of log time {math.sqrt(record['time_run_var']):.4f}; between sets, sd of log ratio {noise.set_sd_text(record)}; "
        f"{_pairs_text(record)}; with these, coverage on these runs {record['pooled_coverage']:.0%}",
    ])


def _pairs_text(record: dict) -> str:
    prior = record.get("pair_prior")
    if not prior:
        return "every pair takes the pool's run-to-run term (no set with per-pair within-run variances yet)"
    strength = "the pool alone: the pairs' variances agree within chance" if prior["df"] is None else \
        f"prior {prior['df']:.1f} degrees of freedom"
    return f"each of {prior['pairs']} pairs has its own run-to-run term, shrunk toward the pool ({strength})"


def history_row(record: dict) -> dict:
    """noise.json's record as one row of the history."""
    s, rates = record["summary"], record["compare_rates"]
    settings = ("runs_taken", "code", "profile", "keras_backend", "compile", "threads", "blocks", "gc", "method", "runs")
    return {**{c: record.get(c) for c in settings},
            **{c: s.get(c) for c in HISTORY_SUMMARY}, "ratio_run_sd": math.sqrt(record["set"]["ratio_run_var"]),
            "time_run_sd": math.sqrt(record["set"]["time_run_var"]), **{c: rates.get(c) for c in HISTORY_RATES},
            "analysed": record["date"]}


def _with_settings(rows: list[dict], settings: dict) -> list[dict]:
    """The rows (history or stability_sets.csv) taken with `settings`' NOISE_SETTINGS, compared as the CSV's strings."""
    return [r for r in rows if all(str(r.get(c)) == str(settings.get(c)) for c in NOISE_SETTINGS)]


def pooled_noise(history: list[dict], settings: dict) -> dict:
    """The run-to-run terms every published interval uses: the mean variance over all sets in the
    history taken with these settings. One set measures one hour of the host; a quiet hour's
    near-zero term would narrow every interval for the busy ones (history rows, README)."""
    same = _with_settings(history, settings)
    return {"ratio_run_var": statistics.fmean(float(r["ratio_run_sd"]) ** 2 for r in same),
            "time_run_var": statistics.fmean(float(r["time_run_sd"]) ** 2 for r in same),
            "pooled_sets": [r["runs_taken"] for r in same]}


def set_rows(runs: list, record: dict) -> list[dict]:
    """This set's rows of stability_sets.csv: per pair timed in two or more runs, the mean log ratio and its runs' variance."""
    out = []
    for key, values in _by_key(runs, "pairs").items():
        if len(values) >= 2:
            logs = [e.log for e in values]
            out.append({"runs_taken": record["runs_taken"], **{c: record.get(c) for c in NOISE_SETTINGS},
                        **dict(zip(PAIR_KEY, key)), "runs": len(logs),
                        "mean_log_ratio": statistics.fmean(logs), "run_var": statistics.variance(logs),
                        "within_var": statistics.fmean(e.var for e in values), "run_log_ratios": json.dumps(logs)})
    return out


def between_set_var(rows: list[dict], settings: dict) -> dict:
    """How far a pair's ratio moves between sets beyond what their runs explain, pooled over pairs.

    For each pair in two or more sets with these settings: the variance of the
    sets' mean log ratios less the part their runs' spread predicts (each set's
    run variance over its runs); the mean over pairs, floored at 0. Runs of one
    set are taken back to back, in one state of the host; a set an hour later
    meets another, and a user's rerun is more like that one.
    """
    by_pair: dict = {}
    for r in _with_settings(rows, settings):
        by_pair.setdefault(tuple(str(r[c]) for c in PAIR_KEY), []).append(r)
    in_several = [sets for sets in by_pair.values() if len(sets) >= 2]
    terms = [statistics.variance([float(r["mean_log_ratio"]) for r in sets])
             - statistics.fmean(float(r["run_var"]) / int(r["runs"]) for r in sets) for sets in in_several]
    return {"ratio_set_var": max(0.0, statistics.fmean(terms)) if terms else 0.0,
            "sets_compared": sorted({r["runs_taken"] for sets in in_several for r in sets})}


def updated_sets(rows: list[dict], new: list[dict]) -> list[dict]:
    """stability_sets.csv with a set's rows added; a set analysed again (same runs_taken) replaces its rows."""
    taken = new[0]["runs_taken"] if new else ""
    keep = [r for r in rows if not (taken and r.get("runs_taken") == taken)]
    return sorted(keep + new, key=lambda r: (not r.get("runs_taken"), r.get("runs_taken") or ""))


def updated_history(rows: list[dict], new: dict) -> list[dict]:
    """The history with `new` added, oldest set first (by when its runs were taken, so a set analysed
    after a later one still sits before it; sets without dates last, as analysed); a set analysed
    again (same runs_taken) replaces its row."""
    keep = [r for r in rows if not (new["runs_taken"] and r.get("runs_taken") == new["runs_taken"])]
    return sorted(keep + [new], key=lambda r: (not r.get("runs_taken"), r.get("runs_taken") or ""))


# --- the command --------------------------------------------------------------------------------


def take_runs(args, n: int) -> list[Path]:
    """n runs of the slice, one after another, each into its own directory: here, each in a `pytest bench/`
    process (run_backend); with --cluster see take_cluster_runs."""
    base = args.keep or Path(tempfile.mkdtemp(prefix="tdbench-stability-"))
    dirs = []
    for i in range(1, n + 1):
        run_dir = _empty_run_dir(base, i)
        start = time.perf_counter()
        run_args = SimpleNamespace(profile=args.profile, compile=args.compile, threads=args.threads, blocks=args.blocks,
                                   precision=args.precision, results_dir=str(run_dir), pytest_args=args.pytest_args)
        rc = run_backend(args.keras_backend, run_args, base / f"run-{i}.log")
        if rc != 0:
            raise UsageError(f"run {i} failed (pytest exit {rc}); see {base / f'run-{i}.log'}")
        print(f"run {i} of {n}: {time.perf_counter() - start:.0f} s, {run_dir}", flush=True)
        dirs.append(run_dir)
    return dirs


def _empty_run_dir(base: Path, i: int) -> Path:
    run_dir = base / f"run-{i}"
    if (run_dir / FILES["benchmarks"]).exists():
        raise UsageError(f"{run_dir}: already holds a run; give --keep an empty directory")
    return run_dir


def take_cluster_runs(args, n: int) -> tuple[list[Path], Path, dict]:
    """n runs of the slice on the Ray cluster at args.cluster, into the run directories take_runs uses:
    (those directories, the machine directory of the nodes' kind, its fingerprint)."""
    import_ray()  # Ray missing: one line, before its import fails inside the driver
    from ..cluster.driver import stability_runs  # late: Ray loads only with --cluster

    base = args.keep or Path(tempfile.mkdtemp(prefix="tdbench-stability-"))
    dirs = [_empty_run_dir(base, i) for i in range(1, n + 1)]  # every one, before anything is timed
    args.results_dir = args.results_dir or layout.RESULTS_ROOT  # the root of the machine directories
    kind = stability_runs(args, dirs)
    return dirs, layout.claim_machine_dir(kind.directory, kind.fingerprint), kind.fingerprint


def run(args) -> int:
    n = None if args.runs_from else parse_runs(args.runs)
    if args.cluster and args.runs_from:
        raise UsageError("--cluster with --runs-from: --runs-from analyses runs already taken and times nothing; "
                         "give one of them")
    if args.cluster:
        dirs, results_dir, machine = take_cluster_runs(args, n)
    else:
        results_dir = args.results_dir = results_to_write(args)
        try:
            check_same_machine(results_dir)
        except OtherMachine as e:
            raise UsageError(str(e)) from e
        machine = fingerprint()
        if args.runs_from:
            if len(args.runs_from) < 2:
                raise UsageError("--runs-from needs two or more run directories")
            dirs = args.runs_from
        else:
            dirs = take_runs(args, n)
    return analyse(args, dirs, results_dir, machine)


def analyse(args, dirs: list[Path], results_dir: Path, machine: dict) -> int:
    """The runs in `dirs` analysed into `results_dir`, the set of the machine `machine` that timed them."""
    runs = [run_measurements(d) for d in dirs]
    try:
        model = noise_model(runs)
    except ValueError as e:
        raise UsageError(f"{', '.join(map(str, dirs))}: {e}") from e
    used, source = model, "estimated from these runs"  # the check; noise.json publishes the pooled terms
    if args.noise_from:
        try:
            used = noise.load(args.noise_from)
        except ValueError as e:
            raise UsageError(str(e)) from e
        if used is None:
            raise UsageError(f"{args.noise_from / noise.NOISE_FILE}: no such file")
        source = f"from {args.noise_from / noise.NOISE_FILE}"
    rows = stability_rows(runs, noise.rerun_ratio_var(used), noise.pair_rerun_vars(used))
    if not rows:
        raise UsageError("no Keras/torch pair was timed in two runs")
    s = {**summary(rows), **median_changes(runs), "block_ratio_sd": block_ratio_sd(runs),
         **block_order.summary([e for r in runs for e in getattr(r, "order_effects", [])])}
    rates = compare_error_rates(runs, used["time_run_var"], args.threshold, used["ratio_run_var"], noise.pair_vars(used))
    provenance = runs_provenance(dirs)  # the runs' own settings win over the options (--runs-from)
    record = {"machine": machine, "profile": args.profile, "keras_backend": args.keras_backend,
              "compile": args.compile, "threads": args.threads, "blocks": getattr(args, "blocks", None),
              "gc": GC_BEFORE_RECORDED, "method": METHOD_BEFORE_RECORDED, **provenance["settings"], "runs": len(runs), "run_dirs": [str(d) for d in dirs],
              "runs_taken": provenance["runs_taken"], "code": provenance["code"], "date": _today(), "set": model,
              "checked_with": source, "threshold": args.threshold,
              "multiplier": "Student t, 97.5%, blocks - 1 degrees of freedom (1.96 without blocks)",
              "summary": s, "compare_rates": rates}
    with lock.held(results_dir):  # read, merge and write the history and the set's files as the only writer
        history_path = results_dir / HISTORY_FILE
        try:
            # a row written before a column was added reads that column as empty
            earlier = [{c: r.get(c, {"gc": GC_BEFORE_RECORDED, "method": METHOD_BEFORE_RECORDED}.get(c, ""))
                        for c in HISTORY_COLUMNS} for r in read_csv(history_path)] if history_path.exists() else []
        except ValueError as e:
            raise UsageError(f"{history_path}: {e}") from e
        sets_path = results_dir / SETS_FILE
        try:
            earlier_sets = [{**r, "method": r.get("method") or METHOD_BEFORE_RECORDED}
                            for r in read_csv(sets_path)] if sets_path.exists() else []
            sets = updated_sets(earlier_sets, set_rows(runs, record))
        except ValueError as e:
            raise UsageError(f"{sets_path}: {e}") from e
        earlier_model = earlier_noise(earlier, earlier_sets, record)
        s.update(held_out_coverage(runs, earlier_model))
        rates.update(held_out_error_rates(runs, earlier_model, args.threshold))
        history = updated_history(earlier, history_row(record))
        record.update(pooled_noise(history, record))
        record.update(between_set_var(sets, record))
        record.update(pair_run_vars(_with_settings(sets, record)))
        record["pooled_coverage"] = summary(stability_rows(runs, noise.rerun_ratio_var(record),
                                                           noise.pair_rerun_vars(record)))["coverage"]
        print(format_summary(s, rates, record, used))
        write_csv(results_dir / STABILITY_FILE, rows, STABILITY_COLUMNS)
        noise.save(results_dir, record)
        write_csv(history_path, history, HISTORY_COLUMNS)
        write_csv(sets_path, sets, SETS_COLUMNS)
        written = [STABILITY_FILE, noise.NOISE_FILE, HISTORY_FILE, SETS_FILE]
        if (results_dir / FILES["benchmarks"]).exists():  # every derived interval follows the new noise model
            try:
                save_run(results_dir, [], {})  # no new rows: comparison.csv, onnx.csv, td_tax.csv written again
            except ValueError as e:
                raise UsageError(str(e)) from e
            written.append("the files derived from benchmarks.csv")
    print(f"wrote {', '.join(written)} in {results_dir}/")
    return 0


def _today() -> str:
    return today()
