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
import sys

from ..store.results import load_benchmarks
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


# --- persistent compile caches: a cold process against a warm one (--compile-cache) ---------------

CACHE_COLUMNS = ["framework", "keras_backend", "topology", "size", "mode", "head", "compiler",
                 "cold_first_s", "warm_first_s", "saved_s", "cold_cache", "warm_cache"]


def cache_rows(cold: list[dict], warm: list[dict]) -> list[dict]:
    """Each case timed by both runs: its first call in a fresh cache directory (cold) and in a later
    process given the same directory (warm), with what each row's compile_cache column says."""
    warm_by_case = {tuple(str(r.get(c, "")) for c in CASE_KEY): r for r in warm if is_timed(r)}
    out = []
    for c in cold:
        w = warm_by_case.get(tuple(str(c.get(k, "")) for k in CASE_KEY))
        first_cold, first_warm = float_or_none(c.get("first_call_s")), float_or_none((w or {}).get("first_call_s"))
        if not is_timed(c) or first_cold is None or first_warm is None:
            continue
        out.append({**{k: c[k] for k in CACHE_COLUMNS[:7]}, "cold_first_s": first_cold, "warm_first_s": first_warm,
                    "saved_s": first_cold - first_warm, "cold_cache": c.get("compile_cache") or "",
                    "warm_cache": w.get("compile_cache") or ""})
    return out


def cache_table(rows: list[dict]) -> str:
    """cache_rows as a Markdown table."""
    lines = ["| case | compiler | cold first call (s) | warm first call (s) | the cache saved | cold cache | warm cache |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        who = f"torch (beside Keras on {r['keras_backend']})" if r["framework"] == "torch" else f"Keras on {r['keras_backend']}"
        case = f"{who}, {r['topology']} {r['size']} {r['mode']}, {r['head']}"
        saved = r["saved_s"] / r["cold_first_s"] if r["cold_first_s"] else 0.0
        lines.append(f"| {case} | {r['compiler']} | {r['cold_first_s']:.2f} | {r['warm_first_s']:.2f} | "
                     f"{r['saved_s']:.2f} s ({saved:.0%}) | {r['cold_cache']} | {r['warm_cache']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    """`python -m bench.analysis.compile_cost COLD_DIR WARM_DIR ...`: the table, per pair of result sets."""
    dirs = list(sys.argv[1:] if argv is None else argv)
    if not dirs or len(dirs) % 2:
        print("usage: python -m bench.analysis.compile_cost COLD_DIR WARM_DIR [COLD_DIR WARM_DIR ...]", file=sys.stderr)
        return 2
    rows = []
    for cold, warm in zip(dirs[::2], dirs[1::2]):
        rows += cache_rows(load_benchmarks(cold), load_benchmarks(warm))
    print(cache_table(rows), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
