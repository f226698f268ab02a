"""Intervals and tests on raw rounds, honest about run-to-run noise.

Everything works on the log scale, where a ratio is a difference.

The ratio itself (`ratio`). Two cases timed in blocks side by side
(block b of one seconds from block b of the other) give one log ratio per
block, and the ratio is their Hodges-Lehmann estimate: the median of the
means of every two of them (each with itself included). It uses the pairing
the interval below already rests on: a moment that slows both arms alike
cancels in each block's ratio before the blocks are combined, where the
quotient of the two cases' medians over all their rounds lets each median
pick its own blocks. Hodges-Lehmann is nearly as efficient as the mean when
the block ratios are normal and, like the median, ignores a block or two
that a host episode hit. Recomputed from the kept raw rounds of the eight
sets then in the stability history, a ratio's median change between
two runs of a set was smaller with Hodges-Lehmann than with the quotient of
medians in each; `bench stability` reports both for every set since (the
history's median change column). Rows without paired blocks (one block, or
raw rounds missing) fall back to that quotient.

Within one run (one process), a case is timed in blocks (bench/suite/session.py):
the blocks of every case of one problem alternate, so block b of a Keras case
and block b of the torch case it is compared with were timed seconds apart.
The uncertainty of a case's median (`case_within_var`) is the larger of

- the rounds' own: `log_median_var` bootstraps all rounds (resample with
  replacement, take the median, BOOTSTRAP_SAMPLES times), var of log(median);
- the blocks': the variance of the blocks' log medians over the number of
  blocks, which sees what the rounds cannot: the machine's state changing
  between moments of one run (measured: a case's rounds agree within ~4%
  while its level moves 10-40% between moments and processes).

For a Keras/torch ratio (`pair_within_var`) the blocks are paired in time: the
variance of the per-block log ratios over the number of blocks, so a change
of the machine that slows both arms alike cancels, and one that does not is
counted (with at least MIN_PAIRED_BLOCKS blocks; no floor from the rounds).
Blocks are timed in ABBA order (bench/conftest.py in_block_order), so neither
arm always runs first. The suite keeps adding blocks to a problem until
each of its ratios reaches the --precision target on this variance
(`paired_half_width`), or the run's time budget is spent; `precision` is
what a ratio reached, written beside it in comparison.csv.

Between runs (separate processes of the same code on the same machine) the
ratio can still move more than one run's blocks say: each process lands in its
own state of caches, thread placement and neighbours. `python -m bench
stability` times the profile in several processes and estimates that extra
term once per machine (`pooled_run_var`): the variance of log(ratio) across
runs, less the part the run's own variance already explains, pooled over all
pairs. It is stored in results/noise.json (bench/commands/stability.py).
Sets of runs taken an hour apart differ by more again; noise.json's
between-set term (ratio_set_var, bench/commands/stability.py
between_set_var) is added to var_run for every published interval
(bench/store/noise.py rerun_ratio_var).

The published interval (`interval`) is for the ratio a rerun on this machine
would measure, at 95%:

    log r  +-  t * sqrt(2 * (var_within + var_run))

with var_run the run-to-run term plus the between-set one. The factor 2: the
ratio at hand and the rerun's each carry their own within-run and rerun
error. t (`t_quantile`) is Student's 97.5% quantile with blocks - 1 degrees of freedom (2.26 for 10 blocks) rather than the normal
1.96: var_within is estimated from the spread of a handful of blocks, so it
is itself uncertain, and a run whose blocks happened to agree got too narrow
an interval (seen in the stability sets' coverage once the ratio came from
paired blocks and their run-to-run term pooled to zero). A variance from
rounds alone (one block) keeps 1.96. So a rerun's ratio lands inside the
interval 95% of the time if the noise model holds; `python -m bench
stability` checks that (coverage). A confidence interval for the long-run
mean ratio would be sqrt(2) narrower; it would catch only about 83% of reruns.

`bench compare` uses the same pieces for one case's time, old against new:
flag when |log(new/old)| > t * sqrt(var_old + var_new + 2 * var_run_time),
t from the side with fewer blocks (`compare_t`), and the change exceeds the
threshold.
"""

from __future__ import annotations

import functools
import math
import statistics
from typing import NamedTuple

import numpy as np

BOOTSTRAP_SAMPLES = 1000
Z95 = 1.959963984540054
# Rounds a case needs before its bootstrap means anything.
MIN_ROUNDS = 3
# Paired blocks a ratio needs before their spread is its variance (t with 9 degrees of freedom: 2.26).
MIN_PAIRED_BLOCKS = 10


def log_median_var(data, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> float:
    """Bootstrap variance of log(median of the rounds); the rounds are seconds per call."""
    x = np.asarray(data, dtype=float)
    if x.size < MIN_ROUNDS or not np.all(x > 0):
        raise ValueError(f"need at least {MIN_ROUNDS} positive rounds, got {x.size}")
    rng = np.random.default_rng(seed)
    medians = np.median(x[rng.integers(0, x.size, size=(samples, x.size))], axis=1)
    return float(np.var(np.log(medians), ddof=1))


def iqr_log_median_var(median: float, iqr: float, rounds: int) -> float:
    """Variance of log(median) from a row's median, IQR and rounds, when its raw rounds are missing.

    Normal approximation: sigma = IQR / 1.349, se(median) = 1.2533 sigma / sqrt(n).
    """
    if not (median > 0 and rounds and rounds > 0) or iqr is None or math.isnan(iqr):
        return float("nan")
    se = 1.2533 * (iqr / 1.349) / math.sqrt(rounds) / median
    return se * se


class Estimate(NamedTuple):
    """A log ratio (or log time) of one run, its within-run variance, and the blocks that variance came from."""

    log: float
    var: float
    blocks: int = 0


@functools.lru_cache(maxsize=None)
def t_quantile(blocks: int) -> float:
    """Student's t 97.5% quantile with blocks - 1 degrees of freedom: the 95% two-sided multiplier for a
    variance from `blocks` blocks (module docstring); the normal one (Z95) for a variance from rounds alone."""
    if blocks < 2:
        return Z95
    # Late: only intervals from blocks need it. scipy.special's inverse of Student's t CDF is what
    # scipy.stats.t.ppf computes, without scipy.stats's import (over a second, in every save).
    from scipy.special import stdtrit

    return float(stdtrit(blocks - 1, 0.975))


def interval(log_ratio: float, within_var: float, run_var: float, z: float = Z95) -> tuple[float, float]:
    """The 95% confidence interval (ratio scale) of the ratio this machine measures: the one published."""
    half = z * math.sqrt(within_var + run_var)
    return math.exp(log_ratio - half), math.exp(log_ratio + half)


def rerun_interval(log_ratio: float, within_var: float, run_var: float, z: float = Z95) -> tuple[float, float]:
    """The 95% interval in which a rerun's ratio falls: sqrt(2) wider than `interval`, as the rerun carries
    its own errors too. What `bench stability` checks the noise model with (coverage)."""
    half = z * math.sqrt(2 * (within_var + run_var))
    return math.exp(log_ratio - half), math.exp(log_ratio + half)


def pooled_run_var(runs: dict) -> float:
    """Run-to-run variance of a log ratio (or log time), beyond what the rounds explain, pooled over keys.

    `runs`: key -> list of Estimate (log value, within-run variance), one per run;
    keys seen in fewer than two runs are ignored. Per key: sample variance across
    runs less the mean within-run variance; the mean over keys, floored at 0.
    """
    excess = []
    for values in runs.values():
        if len(values) < 2:
            continue
        excess.append(statistics.variance(v.log for v in values) - statistics.fmean(v.var for v in values))
    if not excess:
        raise ValueError("no key was measured in two or more runs")
    return max(0.0, statistics.fmean(excess))


def compare_t(old_blocks: int, new_blocks: int) -> float:
    """`change_direction`'s multiplier for two runs' estimates: t with the fewer blocks' degrees of freedom."""
    return t_quantile(min(old_blocks, new_blocks))


# "The same speed" means a ratio's 95% confidence interval lies within 1/(1 + margin) .. 1 + margin: two
# one-sided tests at 2.5% each (TOST). An interval that holds 1 but reaches past the margin decides nothing.
EQUIVALENCE_MARGIN = 0.05


def equivalent(ci_low: float, ci_high: float, margin: float = EQUIVALENCE_MARGIN) -> bool:
    """Whether a ratio's 95% interval shows it within `margin` of 1 (the same speed)."""
    return 1 / (1 + margin) <= ci_low and ci_high <= 1 + margin


# The false discovery rate `bench compare` controls over all its tests (cases and ratios) at once.
FALSE_DISCOVERY_RATE = 0.05


def excess_p_value(log_change: float, var: float, threshold: float, blocks: int) -> float:
    """One-sided p-value of "the true change is within +-threshold", against "it is beyond": how likely a
    change at least this far past log(1 + threshold) is when the true one sits at the threshold's edge.

    `var` is the variance of `log_change` (both sides and the run-to-run term); Student's t with the fewer
    side's blocks - 1 degrees of freedom, the normal for a variance from rounds alone (`t_quantile`).
    """
    excess = abs(log_change) - math.log1p(threshold)
    if var <= 0:
        return 0.0 if excess > 0 else 1.0
    from scipy.stats import norm, t as student_t  # late: scipy.stats takes a second to import

    score = excess / math.sqrt(var)
    return float(norm.sf(score) if blocks < 2 else student_t.sf(score, blocks - 1))


def benjamini_hochberg(p_values: list[float], rate: float = FALSE_DISCOVERY_RATE) -> list[bool]:
    """Which of the tests to call discoveries, keeping the expected share of false ones among them at
    most `rate` (Benjamini and Hochberg 1995): the largest k with p_(k) <= k * rate / m, and all below it."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    cut = max((rank for rank, i in enumerate(order, 1) if p_values[i] <= rank * rate / m), default=0)
    keep = set(order[:cut])
    return [i in keep for i in range(m)]


class ChangeTest(NamedTuple):
    """One change to judge: log(new / old), its variance (both sides and the run-to-run term), the
    fewer side's blocks."""

    log_change: float
    var: float
    blocks: int


def judge(tests: list[ChangeTest], threshold: float) -> list[str]:
    """"slower", "faster" or "" per test: beyond the threshold with the false discovery rate over all
    `tests` at FALSE_DISCOVERY_RATE (Benjamini-Hochberg on `excess_p_value`). `bench compare`'s rule."""
    found = benjamini_hochberg([excess_p_value(t.log_change, t.var, threshold, t.blocks) for t in tests])
    return [("slower" if t.log_change > 0 else "faster") if hit else "" for t, hit in zip(tests, found)]


def change_direction(log_change: float, var_old: float, var_new: float, run_var: float, threshold: float,
            z: float = Z95) -> str:
    """"slower", "faster" or "": the change is outside its 95% noise band and beyond the threshold."""
    band = z * math.sqrt(var_old + var_new + 2 * run_var)
    if log_change > band and log_change > math.log1p(threshold):
        return "slower"
    if -log_change > band and -log_change > math.log1p(threshold):
        return "faster"
    return ""


class Timing(NamedTuple):
    """One case's time as the statistics take it: its rounds by block (empty without raw rounds), and
    its row's median, IQR and round count, which stand in for the rounds where they are missing.
    bench/analysis/derived.py timing() builds one from a benchmarks row, looking its key up once."""

    blocks: list
    median: float
    iqr: float = float("nan")
    rounds: int = 0


def rounds_var(case: Timing) -> float:
    """var(log median) of a case from its rounds: bootstrap of the raw rounds, else IQR and rounds."""
    rounds = [x for block in case.blocks for x in block]
    if len(rounds) >= MIN_ROUNDS:
        return log_median_var(rounds)
    return iqr_log_median_var(case.median, case.iqr, case.rounds)


def _var_of_mean(values) -> float:
    return float(np.var(values, ddof=1)) / len(values)


def _log_block_medians(blocks) -> np.ndarray:
    # statistics.median: the same value as np.median (the middle round, or the mean of the two middle
    # ones), without NumPy's per-call overhead on a block of a few rounds; compare and every save call
    # this for each case of a set, many times over.
    return np.log([statistics.median(block) for block in blocks])


def case_within_var(case: Timing) -> float:
    """var(log median) of a case: the larger of its rounds' and its blocks' (module docstring)."""
    var = rounds_var(case)
    if len(case.blocks) >= 2:
        var = max(var, _var_of_mean(_log_block_medians(case.blocks)))
    return var


def pair_within_var(top: Timing, bottom: Timing, process_var: float | None = None) -> float:
    """var(log(top / bottom)) within one run: from the paired blocks' log ratios when there are
    MIN_PAIRED_BLOCKS of them, else each case's own (`case_within_var`) added.

    No floor from the rounds' bootstrap: that is the variance of another
    estimator (the unpaired median of all rounds), and as a floor it decided
    the width of most pairs, throwing away what pairing the blocks had bought.
    """
    k, t = top.blocks, bottom.blocks
    processes = process_estimates(k, t)
    if processes:  # a run of several processes: the mean of theirs, with the variance between them too
        between = process_var if process_var is not None else max(0.0, process_excess_var(processes))
        return (statistics.fmean(e.var for e in processes) + between) / len(processes)
    if len(k) >= MIN_PAIRED_BLOCKS and len(k) == len(t):
        return _var_of_mean(_log_block_medians(k) - _log_block_medians(t))
    return case_within_var(top) + case_within_var(bottom)


def paired_half_width(top_blocks, bottom_blocks) -> float | None:
    """The 95% half-width (log scale) of a paired log ratio from its blocks alone; None with fewer than
    MIN_PAIRED_BLOCKS pairs. What the suite refines a problem to (bench/suite/session.py extension blocks)."""
    if len(top_blocks) < MIN_PAIRED_BLOCKS or len(top_blocks) != len(bottom_blocks):
        return None
    d = _log_block_medians(top_blocks) - _log_block_medians(bottom_blocks)
    return t_quantile(d.size) * math.sqrt(_var_of_mean(d))


def precision(top: Timing, bottom: Timing, process_var: float | None = None) -> float | None:
    """The precision a ratio reached within its run: its 95% half-width as a fraction (0.025: +-2.5%)."""
    var = pair_within_var(top, bottom, process_var)
    if math.isnan(var):
        return None
    blocks = min(len(top.blocks), len(bottom.blocks))
    return math.expm1(t_quantile(blocks) * math.sqrt(var))


def process_estimates(top_blocks, bottom_blocks) -> list[Estimate] | None:
    """Per process of a run of several (bench/store/raw.py ProcessBlocks): the paired log ratio of its
    blocks (Hodges-Lehmann) and that estimate's within-process variance; None unless both arms carry the
    same process labels, from two or more processes, each with MIN_PAIRED_BLOCKS paired blocks."""
    labels = getattr(top_blocks, "processes", None)
    if labels is None or labels != getattr(bottom_blocks, "processes", None) or len(set(labels)) < 2:
        return None
    out = []
    for process in sorted(set(labels)):
        at = [i for i, label in enumerate(labels) if label == process]
        top, bottom = [top_blocks[i] for i in at], [bottom_blocks[i] for i in at]
        if len(at) < MIN_PAIRED_BLOCKS:
            return None
        d = _log_block_medians(top) - _log_block_medians(bottom)
        out.append(Estimate(paired_log_ratio(top, bottom), _var_of_mean(d), len(at)))
    return out


def process_excess_var(estimates: list[Estimate]) -> float:
    """How far one pair's process estimates scatter beyond their within-process variance (may be < 0)."""
    return statistics.variance(e.log for e in estimates) - statistics.fmean(e.var for e in estimates)


def pooled_process_var(pairs) -> float | None:
    """The variance between processes of a log ratio, beyond the blocks', pooled over `pairs` ((top, bottom)
    Timings) of one run of several processes, floored at 0: one pair's few processes estimate it poorly, the
    run's pairs together well (pooled_run_var does the same across runs). None without such a pair."""
    excess = [process_excess_var(e) for e in (process_estimates(t.blocks, b.blocks) for t, b in pairs) if e]
    return max(0.0, statistics.fmean(excess)) if excess else None


def paired_log_ratio(top_blocks, bottom_blocks) -> float | None:
    """Hodges-Lehmann estimate of log(top / bottom) from blocks timed side by side; None unless paired.

    One log ratio of block medians per block; the median of the means of every
    two of them, each with itself included (the Walsh averages).
    """
    if len(top_blocks) < 2 or len(top_blocks) != len(bottom_blocks):
        return None
    d = _log_block_medians(top_blocks) - _log_block_medians(bottom_blocks)
    i, j = np.triu_indices(d.size)
    return float(np.median((d[i] + d[j]) / 2))


def paired_block_sd(top_blocks, bottom_blocks) -> float | None:
    """sd of the per-block log ratios of blocks timed side by side; None unless paired, 2+ blocks."""
    if len(top_blocks) < 2 or len(top_blocks) != len(bottom_blocks):
        return None
    return float(np.std(_log_block_medians(top_blocks) - _log_block_medians(bottom_blocks), ddof=1))


def ratio(top: Timing, bottom: Timing) -> float:
    """top / bottom of two cases: from their paired blocks (module docstring; a run of several processes:
    the mean of each process's log ratio), else their medians."""
    processes = process_estimates(top.blocks, bottom.blocks)
    if processes:
        return math.exp(statistics.fmean(e.log for e in processes))
    paired = paired_log_ratio(top.blocks, bottom.blocks)
    if paired is not None:
        return math.exp(paired)
    return top.median / bottom.median


def pair_estimate(top: Timing, bottom: Timing, process_var: float | None = None) -> Estimate:
    """log(top / bottom) (`ratio`), its within-run variance, and the blocks of its fewer-timed arm."""
    return Estimate(math.log(ratio(top, bottom)), pair_within_var(top, bottom, process_var),
                    min(len(top.blocks), len(bottom.blocks)))


def case_estimate(case: Timing) -> Estimate:
    """log(median) of a case, its within-run variance, and its blocks."""
    return Estimate(math.log(case.median), case_within_var(case), len(case.blocks))


def ratio_interval(top: Timing, bottom: Timing, run_var: float | None, process_var: float | None = None) -> tuple:
    """(ci_low, ci_high): the 95% confidence interval of top / bottom (`ratio`), from the run's own
    variance (its processes' too, `process_var` pooled over the run's pairs) plus `run_var` (None: no
    measured rerun noise for this kind of slice, the run's alone)."""
    e = pair_estimate(top, bottom, process_var)
    if math.isnan(e.var):
        return None, None
    return interval(e.log, e.var, run_var or 0.0, t_quantile(e.blocks))
