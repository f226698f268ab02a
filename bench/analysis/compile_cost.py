"""What compiling costs and when it pays: the first call with compile on against compile off, per case.

Every timed row records its first call (`first_call_s`: tracing, XLA or Inductor
compile, autotuning; docs/methods.md) beside its median per call. For a case
timed with compile off and on, compiling pays off after N calls, where N is the
first count at which the compiled case's total time (first call, then N - 1
calls at its median) is no longer above the eager one's:

    N = 1 + ceil((first_on - first_off) / (median_off - median_on))

"never" when the compiled call is not faster, 1 when it is faster from the
first call. Both rows come from the same run's files, so the same machine.
"""

from __future__ import annotations

import math

from ..store.schema import CASE_KEY, is_timed, float_or_none

PAIR_KEY = [c for c in CASE_KEY if c != "compile"]  # a case, whatever its compile setting
COLUMNS = ["framework", "keras_backend", "backend", "topology", "size", "mode", "head", "device",
           "first_off_s", "first_on_s", "median_off_s", "median_on_s", "break_even_calls"]


def break_even_calls(first_off: float, first_on: float, median_off: float, median_on: float) -> float:
    """Calls after which compile-on has cost no more in all (math.inf: never)."""
    if first_on <= first_off and median_on <= median_off:
        return 1
    if median_on >= median_off:
        return math.inf
    return 1 + math.ceil((first_on - first_off) / (median_off - median_on))


def compile_cost_rows(rows: list[dict]) -> list[dict]:
    """One row per case timed both ways, with a first call on record for both (file order)."""
    by_case: dict[tuple, dict] = {}
    for r in rows:
        if is_timed(r) and float_or_none(r.get("first_call_s")) is not None:
            by_case.setdefault(tuple(str(r[c]) for c in PAIR_KEY), {})[r["compile"]] = r
    out = []
    for pair in by_case.values():
        if {"off", "on"} <= pair.keys():
            off, on = pair["off"], pair["on"]
            times = [float_or_none(off["first_call_s"]), float_or_none(on["first_call_s"]), float_or_none(off["median_s"]),
                     float_or_none(on["median_s"])]
            out.append({**{c: off[c] for c in COLUMNS[:8]},
                        **dict(zip(COLUMNS[8:12], times)), "break_even_calls": break_even_calls(*times)})
    return out


def calls_cell(value: float) -> str:
    return "never" if math.isinf(value) else f"{value:.0f}"
