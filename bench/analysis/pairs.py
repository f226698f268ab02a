"""Keras/torch pairs as the statistics see them: log ratio and its within-run variance.

A pair is a row of comparison.csv (bench/store/results.py comparison_rows): one
Keras row against one torch row of the same problem and slice. `bench
stability` and `bench compare` both judge pairs by their log ratio and its
within-run variance (bench/analysis/stats.py pair_within_var: paired blocks, floored
by the rounds), keyed by PAIR_KEY.
"""

from __future__ import annotations

import math

from ..store import raw
from ..store.results import COMPARISON_COLUMNS, comparison_rows
from .stats import pair_within_var

# What identifies a pair across runs: comparison.csv's columns up to the compilers.
PAIR_KEY = COMPARISON_COLUMNS[: COMPARISON_COLUMNS.index("keras_compiler")]


def pair_key(row: dict) -> tuple:
    return tuple(raw.key_cell(row[c]) for c in PAIR_KEY)


def pair_name(row: dict) -> str:
    return f"{row['topology']} {row['size']} {row['mode']} {row['keras_head']}/{row['torch_head']}"


def _pair_rows(pair: dict, by_key: dict) -> tuple[dict, dict]:
    """The Keras and torch benchmark rows behind a comparison row."""
    found = {}
    for framework, head in (("keras", pair["keras_head"]), ("torch", pair["torch_head"])):
        found[framework] = next(
            r for r in by_key.values() if r["framework"] == framework and r["head"] == head
            and all(raw.key_cell(r[c]) == raw.key_cell(pair[c]) for c in PAIR_KEY if c in r)
        )
    return found["keras"], found["torch"]


def pair_measurements(rows: list[dict], rounds: dict) -> dict[tuple, tuple[float, float, dict]]:
    """PAIR_KEY -> (log keras_over_torch, its within-run variance, the comparison row), for every pair of `rows`."""
    by_key = {raw.case_key(r): r for r in rows}
    out = {}
    for p in comparison_rows(rows):
        k, t = _pair_rows(p, by_key)
        out[pair_key(p)] = (math.log(p["keras_over_torch"]), pair_within_var(k, t, rounds), p)
    return out
