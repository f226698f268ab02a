"""What precision a run reached, and the timing it would take to reach the target: the machine's floor.

A ratio's 95% half-width from n paired blocks is t * sd / sqrt(n), sd the
spread of its per-block log ratios, which is the machine's (and the pair's)
noise at this block length. So from one run, each problem needs about
n * (half-width / target)^2 blocks for its noisiest Keras/torch pair, and
its timed rounds scale with them. Summed over problems, that is the timing
the --precision target needs on this machine: what `pytest bench/` prints
beside its result, and what docs/methods.md means by the noise floor.
Problems with fewer than stats.MIN_PAIRED_BLOCKS blocks are left out.
"""

from __future__ import annotations

import math
import statistics

from ..store.raw import blocks_of
from ..store.schema import keras_torch_pairs, problem_key
from .stats import paired_half_width


def time_to_target(entries: list[dict], target: float) -> dict | None:
    """From raw entries (bench/store/raw.py layout: case_key, block_rounds, stats.data and iterations):
    pairs measured, pairs at the target, the median half-width (a fraction), the seconds of timed
    rounds they took and the seconds the target would need; None without a measured pair."""
    cases = []
    for e in entries:
        key = dict(e["extra_info"]["case_key"])
        blocks = blocks_of(e)
        seconds = sum(sum(b) for b in blocks) * int(e["stats"].get("iterations") or 1)
        cases.append({**key, "status": "ok", "median_s": 1.0, "_blocks": blocks, "_seconds": seconds})
    problems: dict[tuple, dict] = {}
    widths = []
    for k, t in keras_torch_pairs(cases):
        half = paired_half_width(k["_blocks"], t["_blocks"])
        if half is None:
            continue
        widths.append(math.expm1(half))
        problem = problems.setdefault(problem_key(k), {"factor": 1.0, "cases": {}})
        problem["factor"] = max(problem["factor"], (half / math.log1p(target)) ** 2)
        for case in (k, t):
            problem["cases"][id(case)] = case["_seconds"]
    if not widths:
        return None
    spent = sum(sum(p["cases"].values()) for p in problems.values())
    needed = sum(sum(p["cases"].values()) * p["factor"] for p in problems.values())
    return {"pairs": len(widths), "at_target": sum(w <= target for w in widths),
            "median_half_width": statistics.median(widths), "timed_s": spent, "timed_s_needed": needed}


def line(result: dict | None, target: float) -> str:
    if result is None:
        return ""
    return (f"precision: median ±{result['median_half_width']:.1%} over {result['pairs']} Keras/torch ratios, "
            f"{result['at_target']} at the ±{target:.1%} target; the target would take about "
            f"{result['timed_s_needed']:.0f} s of timed rounds of those cases on this machine (this run: {result['timed_s']:.0f} s)")
