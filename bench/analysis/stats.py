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
counted. Again the rounds' bootstrap (Keras's plus torch's) is a floor.

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
error. t (`z95`) is Student's 97.5% quantile with blocks - 1 degrees of freedom (2.26 for 10 blocks) rather than the normal
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
t from the side with fewer blocks (`compare_z`), and the change exceeds the
threshold.
"""

from __future__ import annotations

import math
import statistics
from typing import NamedTuple

import numpy as np

BOOTSTRAP_SAMPLES = 1000
Z95 = 1.959963984540054
# Rounds a case needs before its bootstrap means anything.
MIN_ROUNDS = 3


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


def z95(blocks: int) -> float:
    """The 95% two-sided multiplier for a variance from `blocks` blocks: Student's t, blocks - 1
    degrees of freedom (module docstring); the normal one for a variance from rounds alone."""
    if blocks < 2:
        return Z95
    from scipy.stats import t

    return float(t.ppf(0.975, blocks - 1))


def interval(log_ratio: float, within_var: float, run_var: float, z: float = Z95) -> tuple[float, float]:
    """The 95% interval (ratio scale) in which a rerun's ratio falls; see the module docstring."""
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


def compare_z(old_blocks: int, new_blocks: int) -> float:
    """`changed`'s multiplier for two runs' estimates: t with the fewer blocks' degrees of freedom."""
    return z95(min(old_blocks, new_blocks))


def changed(log_change: float, var_old: float, var_new: float, run_var: float, threshold: float,
            z: float = Z95) -> str:
    """"slower", "faster" or "": the change is outside its 95% noise band and beyond the threshold."""
    band = z * math.sqrt(var_old + var_new + 2 * run_var)
    if log_change > band and log_change > math.log1p(threshold):
        return "slower"
    if -log_change > band and -log_change > math.log1p(threshold):
        return "faster"
    return ""


def _float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _rounds_var(row: dict, raw: dict) -> float:
    """var(log median) of a benchmarks row from its rounds: bootstrap of the raw rounds, else IQR and rounds."""
    from ..store.raw import case_key

    blocks = raw.get(case_key(row))
    rounds = [x for block in blocks or () for x in block]
    if len(rounds) >= MIN_ROUNDS:
        return log_median_var(rounds)
    n = _float(row.get("rounds"))
    return iqr_log_median_var(_float(row.get("median_s")), _float(row.get("iqr_s")), 0 if math.isnan(n) else int(n))


def _var_of_mean(values) -> float:
    return float(np.var(values, ddof=1)) / len(values)


def _log_block_medians(blocks) -> np.ndarray:
    return np.log([np.median(block) for block in blocks])


def case_within_var(row: dict, raw: dict) -> float:
    """var(log median) of a benchmarks row: the larger of its rounds' and its blocks' (module docstring)."""
    from ..store.raw import case_key

    blocks = raw.get(case_key(row)) or []
    var = _rounds_var(row, raw)
    if len(blocks) >= 2:
        var = max(var, _var_of_mean(_log_block_medians(blocks)))
    return var


def pair_within_var(keras_row: dict, torch_row: dict, raw: dict) -> float:
    """var(log(keras median / torch median)) within one run: paired blocks, floored by the rounds."""
    from ..store.raw import case_key

    k, t = raw.get(case_key(keras_row)) or [], raw.get(case_key(torch_row)) or []
    if len(k) >= 2 and len(k) == len(t):
        return max(_rounds_var(keras_row, raw) + _rounds_var(torch_row, raw),
                   _var_of_mean(_log_block_medians(k) - _log_block_medians(t)))
    return case_within_var(keras_row, raw) + case_within_var(torch_row, raw)


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


def ratio(top_row: dict, bottom_row: dict, raw: dict) -> float:
    """top / bottom of two benchmarks rows: from their paired blocks (module docstring), else their medians."""
    from ..store.raw import case_key

    paired = paired_log_ratio(raw.get(case_key(top_row)) or [], raw.get(case_key(bottom_row)) or [])
    if paired is not None:
        return math.exp(paired)
    return _float(top_row["median_s"]) / _float(bottom_row["median_s"])


def blocks_of(row: dict, raw: dict) -> int:
    """How many blocks a benchmarks row was timed in, from its raw rounds (0 without them)."""
    from ..store.raw import case_key

    return len(raw.get(case_key(row)) or [])


def pair_estimate(top_row: dict, bottom_row: dict, raw: dict) -> Estimate:
    """log(top / bottom) (`ratio`), its within-run variance, and the blocks of its fewer-timed arm."""
    return Estimate(math.log(ratio(top_row, bottom_row, raw)), pair_within_var(top_row, bottom_row, raw),
                    min(blocks_of(top_row, raw), blocks_of(bottom_row, raw)))


def case_estimate(row: dict, raw: dict) -> Estimate:
    """log(median) of a benchmarks row, its within-run variance, and its blocks."""
    return Estimate(math.log(_float(row["median_s"])), case_within_var(row, raw), blocks_of(row, raw))


def ratio_interval(top_row: dict, bottom_row: dict, raw: dict, run_var: float | None) -> tuple:
    """(ci_low, ci_high) of top / bottom (`ratio`); (None, None) without a run-to-run variance."""
    if run_var is None:
        return None, None
    e = pair_estimate(top_row, bottom_row, raw)
    if math.isnan(e.var):
        return None, None
    return interval(e.log, e.var, run_var, z95(e.blocks))
