"""Each Keras/torch pair's own run-to-run variance, shrunk toward its slice's pool (empirical Bayes).

Some pairs move between runs far more than others (a sub-millisecond call is
at the mercy of dispatch noise, a GEMM-bound one is not), so one pooled
variance over-covers the quiet pairs and under-covers the noisy ones. A pair's
own variance from a few runs is itself too noisy to use alone (3 runs give 2
degrees of freedom). The moderated variance of Smyth (2004, "Linear models and
empirical Bayes methods for assessing differential expression", the limma
estimator) sits between the two:

    posterior_i = (d0 * s0^2 + d_i * s_i^2) / (d0 + d_i)

where s_i^2 is the pair's variance of its run log ratios (pooled over the sets
it was timed in, d_i degrees of freedom) and (s0^2, d0) the prior that the
spread of all pairs' variances implies, fitted by the method of moments on
log variances: where the pairs' variances disagree no more than chance allows,
d0 is infinite and every pair gets the pool; the more they disagree, the more
each keeps its own. The pair's run-to-run term is then the posterior less its
mean within-run variance (floored at 0), as the pooled term is (stats.py
pooled_run_var). docs/methods.md, "Noise per pair", gives the held-out check.

Pure: takes stability_sets.csv rows, returns numbers; bench/commands/stability.py
writes them into noise.json and bench/store/noise.py hands them to the intervals.
"""

from __future__ import annotations

import math
import statistics

from scipy.special import digamma, polygamma

from ..store.schema import PAIR_KEY, key_cell, pair_key

# A variance of exactly 0 (three identical log ratios) has no logarithm: floor it far below any measured one.
TINY_VAR = 1e-12


def trigamma(x: float) -> float:
    return float(polygamma(1, x))


def trigamma_inverse(y: float) -> float:
    """x with trigamma(x) = y, y > 0 (Newton's method from limma's trigammaInverse)."""
    if y > 1e7:
        return 1 / math.sqrt(y)
    if y < 1e-6:
        return 1 / y
    x = 0.5 + 1 / y
    for _ in range(50):
        tri = trigamma(x)
        step = tri * (1 - tri / y) / float(polygamma(2, x))
        x += step
        if -step / x < 1e-8:
            break
    return x


def prior(variances: list[float], dfs: list[float]) -> tuple[float, float]:
    """(s0^2, d0): the scaled inverse chi-squared prior of the true variances that the sample variances
    `variances` (with `dfs` degrees of freedom each) imply; d0 = inf when they agree within chance."""
    logs = [math.log(max(v, TINY_VAR)) - digamma(d / 2) + math.log(d / 2) for v, d in zip(variances, dfs)]
    mean = statistics.fmean(logs)
    n = len(logs)
    spread = (sum((x - mean) ** 2 for x in logs) / (n - 1) if n > 1 else 0.0) - statistics.fmean(trigamma(d / 2) for d in dfs)
    if spread <= 0:
        return math.exp(mean), math.inf
    d0 = 2 * trigamma_inverse(spread)
    return math.exp(mean + digamma(d0 / 2) - math.log(d0 / 2)), d0


def posterior(variance: float, df: float, prior_var: float, prior_df: float) -> float:
    """The moderated variance of one pair: its own and the prior's, weighted by degrees of freedom."""
    if math.isinf(prior_df):
        return prior_var
    return (prior_df * prior_var + df * variance) / (prior_df + df)


def pair_run_vars(set_rows: list[dict]) -> dict:
    """From stability_sets.csv rows (already of one kind of slice): {"pairs": [{PAIR_KEY..., "run_var", "df"}],
    "pair_prior": {"var", "df", "pairs"}}. A pair's rows are pooled by degrees of freedom (runs - 1 per set);
    rows without within_var (written before it was kept) are left out. Empty when fewer than two pairs qualify."""
    by_pair: dict[tuple, list[dict]] = {}
    for r in set_rows:
        if key_cell(r.get("within_var")) and int(r["runs"]) >= 2:
            by_pair.setdefault(pair_key(r), []).append(r)
    if len(by_pair) < 2:
        return {"pairs": [], "pair_prior": None}
    pooled = {}
    for key, rows in by_pair.items():
        df = sum(int(r["runs"]) - 1 for r in rows)
        var = sum((int(r["runs"]) - 1) * float(r["run_var"]) for r in rows) / df
        within = statistics.fmean(float(r["within_var"]) for r in rows)
        pooled[key] = (var, df, within)
    prior_var, prior_df = prior([v for v, _, _ in pooled.values()], [d for _, d, _ in pooled.values()])
    pairs = [{**dict(zip(PAIR_KEY, key)), "df": df,
              "run_var": max(0.0, posterior(var, df, prior_var, prior_df) - within)}
             for key, (var, df, within) in sorted(pooled.items())]
    return {"pairs": pairs, "pair_prior": {"var": prior_var, "df": None if math.isinf(prior_df) else prior_df,
                                           "pairs": len(pairs)}}
