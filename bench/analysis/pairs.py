"""Keras/torch pairs as the statistics see them: log ratio and its within-run variance.

A pair is a row of comparison.csv (bench/analysis/derived.py comparison_rows): one
Keras row against one torch row of the same problem and slice. `bench
stability` and `bench compare` both judge pairs by their log ratio, its
within-run variance (bench/analysis/stats.py pair_within_var: paired blocks, floored
by the rounds) and the blocks behind it (stats.Estimate), keyed by PAIR_KEY.
"""

from __future__ import annotations

from ..store.schema import PAIR_KEY, is_timed, keras_torch_pairs, pair_key
from .derived import comparison_row, timing
from .stats import Estimate, pair_estimate

__all__ = ["PAIR_KEY", "pair_key", "pair_name", "pair_measurements"]


def pair_name(row: dict) -> str:
    return f"{row['topology']} {row['size']} {row['mode']} {row['keras_head']}/{row['torch_head']}"


def pair_measurements(rows: list[dict], rounds: dict) -> dict[tuple, tuple[Estimate, dict]]:
    """PAIR_KEY -> (the log Keras/torch ratio's Estimate, the comparison row), for every pair of `rows`."""
    out = {}
    for k, t in keras_torch_pairs(rows, is_timed):
        p = comparison_row(k, t, rounds)
        out[pair_key(p)] = (pair_estimate(timing(k, rounds), timing(t, rounds)), p)
    return out
