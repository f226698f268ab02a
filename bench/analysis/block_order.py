"""Does the arm that runs first in a block move a Keras/torch ratio? (ABBA order, docs/methods.md "Blocks")

Within a block a problem's cases run as listed in odd blocks and reversed in
even ones, so each arm runs first in half the blocks and an order effect
cancels in the published ratio. This measures the effect itself, from the
blocks' recorded start times: for each pair, the mean per-block log ratio of
the blocks in which the Keras case started first, less that of the blocks in
which the torch case did. `bench stability` reports it over every pair of its
runs.
"""

from __future__ import annotations

import math
import statistics

from ..store.schema import case_key, is_timed, keras_torch_pairs
from .derived import timing

MIN_BLOCKS_EACH = 3  # blocks with each arm first, below which a pair says nothing of order


def _log_median(block) -> float:
    return math.log(statistics.median(block))


def order_effects(rows: list[dict], rounds: dict, starts: dict) -> list[float]:
    """log(ratio with Keras first) - log(ratio with torch first), one per pair of `rows` whose blocks recorded
    their start times (`starts`, raw.block_starts) with each arm first in MIN_BLOCKS_EACH blocks or more."""
    out = []
    for k, t in keras_torch_pairs(rows, is_timed):
        k_blocks, t_blocks = timing(k, rounds).blocks, timing(t, rounds).blocks
        k_starts, t_starts = starts.get(case_key(k)), starts.get(case_key(t))
        if not (k_starts and t_starts):
            continue
        n = min(len(k_blocks), len(t_blocks), len(k_starts), len(t_starts))
        logs = [_log_median(k_blocks[i]) - _log_median(t_blocks[i]) for i in range(n)]
        keras_first = [logs[i] for i in range(n) if k_starts[i] < t_starts[i]]
        torch_first = [logs[i] for i in range(n) if t_starts[i] < k_starts[i]]
        if len(keras_first) >= MIN_BLOCKS_EACH and len(torch_first) >= MIN_BLOCKS_EACH:
            out.append(statistics.fmean(keras_first) - statistics.fmean(torch_first))
    return out


def summary(effects: list[float]) -> dict:
    """The mean effect over pairs as a relative change of the ratio, its standard error (log), and the count."""
    if len(effects) < 2:
        return {"order_effect": float("nan"), "order_effect_se": float("nan"), "order_pairs": len(effects)}
    return {"order_effect": math.expm1(statistics.fmean(effects)),
            "order_effect_se": statistics.stdev(effects) / math.sqrt(len(effects)), "order_pairs": len(effects)}
