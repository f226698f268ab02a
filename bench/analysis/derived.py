"""The tables derived from benchmarks.csv and the raw rounds on every save: comparison, td-tax, onnx.

results/<machine>/comparison.csv  Keras vs torch per problem (schema.COMPARISON_COLUMNS)
results/<machine>/td_tax.csv      looped over fused head (tdtax profile) (schema.TD_TAX_COLUMNS)
results/<machine>/onnx.csv        ONNX Runtime over its source framework, and the Keras export over the
                                  torch export (schema.ONNX_RATIO_COLUMNS)

Every ratio comes from bench/analysis/stats.py, which takes plain Timings:
`timing` looks a row's raw rounds up by its case key once and hands the
statistics its blocks, median, IQR and rounds.

blocks/precision: the paired blocks of the ratio and the 95% half-width they reached
(stats.py precision, a fraction; the suite adds blocks until --precision is reached).

ci_low/ci_high: the 95% confidence interval of the ratio this machine measures
(stats.py ratio_interval): the run's paired blocks, plus noise.json's
run-to-run and between-set terms where noise.json was measured on this kind of
slice (interval_noise "blocks and reruns", bench/store/noise.py applies_to);
elsewhere from the run's blocks alone ("this run's blocks only"): noise is
never borrowed from another kind of slice.

onnx.csv, one row per ratio:

- `ort_over_source`: an ORT row over the row of its source framework and head
  in the same slice and problem (onnxruntime keras-timedistributed over keras
  timedistributed). Below 1: serving the export in ORT is faster than the
  framework's own inference call.
- `keras_export_over_torch_export`: ORT running the Keras export over ORT
  running the torch export, for every pair of their heads (as comparison.csv
  pairs every Keras head with every torch head).
"""

from __future__ import annotations

import math

from impls.spec import LOOPED_HEADS

from ..store.schema import (
    NO_HEAD, PROBLEM_KEY, case_key, float_or_none, is_timed, keras_torch_pairs, pair_key, problem_key, slice_of,
)
from .stats import Timing, pooled_process_var, precision, process_estimates, ratio, ratio_interval

ORT = "onnxruntime"



def _float(value) -> float:
    """A cell as a float, NaN where it holds none (the statistics' missing value)."""
    value = float_or_none(value)
    return float("nan") if value is None else value


def timing(row: dict, raw: dict | None) -> Timing:
    """The statistics' view of a benchmarks row: its raw rounds by block (looked up by its case key), median,
    IQR and rounds."""
    rounds = _float(row.get("rounds"))
    return Timing((raw or {}).get(case_key(row)) or [], _float(row.get("median_s")), _float(row.get("iqr_s")),
                  0 if math.isnan(rounds) else int(rounds))


def rerun_terms(top: Timing, bottom: Timing, noise: dict | None, pair: tuple = ()) -> tuple[float | None, str]:
    """The noise.json variance to add to a ratio's interval (noise.run_vars' terms for its slice, or None),
    and what the interval is then made of (comparison.csv interval_noise). The run-to-run term is the
    pair's own (shrunk toward the pool) where noise.json has it, else the pool's. A run of several
    processes measured its run-to-run term itself: only the between-set term is added to it."""
    processes = process_estimates(top.blocks, bottom.blocks) is not None
    made_of = "blocks and processes" if processes else "blocks"
    if noise is None:
        return None, f"this run's {made_of} only"
    run = (noise.get("pairs") or {}).get(pair, noise["run"])
    return (noise["set"] if processes else run + noise["set"]), f"{made_of} and reruns"


def comparison_row(k: dict, t: dict, raw: dict | None = None, run_vars: dict | None = None,
                   process_var: float | None = None) -> dict:
    """One row of comparison.csv: Keras row `k` against torch row `t` (see comparison_rows)."""
    k_med, t_med = float(k["median_s"]), float(t["median_s"])
    k_time, t_time = timing(k, raw), timing(t, raw)
    pair = pair_key({**k, "keras_head": k["head"], "torch_head": t["head"]})
    run_var, interval_noise = rerun_terms(k_time, t_time, (run_vars or {}).get(slice_of(k)), pair)
    diffs = [d for d in (float_or_none(k["max_abs_diff"]), float_or_none(t["max_abs_diff"])) if d is not None]
    return {
        **{c: k[c] for c in PROBLEM_KEY},
        "keras_head": k["head"], "torch_head": t["head"],
        "keras_compiler": k["compiler"], "torch_compiler": t["compiler"],
        "keras_median_s": k_med, "torch_median_s": t_med,
        "keras_over_torch": ratio(k_time, t_time),  # from paired blocks when it has them: near, not equal to, k_med / t_med
        **dict(zip(("ci_low", "ci_high"), ratio_interval(k_time, t_time, run_var, process_var))),
        "interval_noise": interval_noise,
        # the precision the run reached (95% half-width, a fraction) from the blocks both arms share
        "blocks": min(len(k_time.blocks), len(t_time.blocks)) or None,
        "precision": precision(k_time, t_time, process_var),
        "keras_spread": float_or_none(k["spread"]), "torch_spread": float_or_none(t["spread"]),
        "params_keras": k["params"], "params_torch": t["params"],
        "max_abs_diff": max(diffs) if diffs else None,
        "keras_kernel": k["kernel"], "torch_kernel": t["kernel"],
    }


def comparison_rows(rows: list[dict], raw: dict | None = None, run_vars: dict | None = None) -> list[dict]:
    """Every timed Keras row against every timed torch row of the same problem (schema.keras_torch_pairs).
    `run_vars`: slice key -> the rerun variance noise.json measured for that kind of slice (noise.run_vars)."""
    pairs = list(keras_torch_pairs(rows, is_timed))
    by_slice: dict[tuple, list] = {}
    for k, t in pairs:
        by_slice.setdefault(slice_of(k), []).append((timing(k, raw), timing(t, raw)))
    process_vars = {key: pooled_process_var(timings) for key, timings in by_slice.items()}
    return [comparison_row(k, t, raw, run_vars, process_vars[slice_of(k)]) for k, t in pairs]


def td_tax_rows(rows: list[dict], raw: dict | None = None) -> list[dict]:
    """Looped head over fused head, same everything else, from the tdtax profile's rows (`raw`: their rounds)."""
    key_columns = ["topology", "keras_backend", "framework", "backend", "compile", "mode", "device", "timesteps"]
    pairs: dict[tuple, dict] = {}
    for r in rows:
        if r["profile"] == "tdtax" and is_timed(r):
            # An ONNX Runtime head is "source-head" (keras-timedistributed): pair within a source.
            source, _, head = r["head"].rpartition("-")
            kind = "looped" if head in LOOPED_HEADS else "fused"
            pairs.setdefault((*(str(r[c]) for c in key_columns), source), {})[kind] = r
    out = []
    for pair in pairs.values():
        if len(pair) < 2:
            continue
        looped, fused = pair["looped"], pair["fused"]
        out.append(
            {
                **{c: looped[c] for c in key_columns}, "compiler": looped["compiler"],
                "looped_head": looped["head"], "fused_head": fused["head"],
                "looped_s": float(looped["median_s"]), "fused_s": float(fused["median_s"]),
                "tax": ratio(timing(looped, raw), timing(fused, raw)),
                "looped_spread": float_or_none(looped["spread"]), "fused_spread": float_or_none(fused["spread"]),
            }
        )
    return sorted(out, key=lambda r: (
        r["topology"], r["keras_backend"], r["framework"], r["looped_head"], r["compile"], r["mode"], int(r["timesteps"])))


def _label(row: dict) -> str:
    return f"{row['framework']} {row['head']}"


def _onnx_ratio(kind: str, top: dict, bottom: dict, raw: dict, run_vars: dict) -> dict:
    top_time, bottom_time = timing(top, raw), timing(bottom, raw)
    ci_low, ci_high = ratio_interval(top_time, bottom_time, rerun_terms(top_time, bottom_time, run_vars.get(slice_of(top)))[0])
    return {
        **{c: top[c] for c in PROBLEM_KEY}, "ratio": kind,
        "numerator": _label(top), "denominator": _label(bottom),
        "numerator_median_s": float(top["median_s"]), "denominator_median_s": float(bottom["median_s"]),
        "value": ratio(top_time, bottom_time), "ci_low": ci_low, "ci_high": ci_high,
        "numerator_spread": float_or_none(top["spread"]), "denominator_spread": float_or_none(bottom["spread"]),
        "exporter": top.get("exporter", ""), "onnx_nodes": top.get("onnx_nodes", ""), "ort_nodes": top.get("ort_nodes", ""),
    }


def source_of(head: str) -> tuple[str, str]:
    """"keras-timedistributed" -> ("keras", "timedistributed"); "torch" -> ("torch", "n/a")."""
    source, _, head = head.partition("-")
    return source, head or NO_HEAD


def onnx_ratio_rows(rows: list[dict], raw: dict | None = None, run_vars: dict | None = None) -> list[dict]:
    timed = [r for r in rows if is_timed(r)]
    by_variant = {(problem_key(r), r["framework"], r["head"]): r for r in timed if r["framework"] != ORT}
    ort_rows = [r for r in timed if r["framework"] == ORT]
    out = []
    for r in ort_rows:
        source = by_variant.get((problem_key(r), *source_of(r["head"])))
        if source is not None:
            out.append(_onnx_ratio("ort_over_source", r, source, raw or {}, run_vars or {}))
    for k in ort_rows:
        if source_of(k["head"])[0] != "keras":
            continue
        for t in ort_rows:
            if source_of(t["head"])[0] == "torch" and problem_key(t) == problem_key(k):
                out.append(_onnx_ratio("keras_export_over_torch_export", k, t, raw or {}, run_vars or {}))
    return out


def memory_comparison_rows(rows: list[dict]) -> list[dict]:
    """memory_comparison.csv: Keras's peak over torch's, for every Keras/torch pair of heads of one problem."""
    measured = lambda r: r["status"] == "ok" and float_or_none(r["peak_mem_bytes"]) is not None
    out = []
    for k, t in keras_torch_pairs(rows, measured):
        k_mem, t_mem = float_or_none(k["peak_mem_bytes"]), float_or_none(t["peak_mem_bytes"])
        out.append({
            **{c: k[c] for c in PROBLEM_KEY}, "keras_head": k["head"], "torch_head": t["head"],
            "keras_peak_mem_bytes": k["peak_mem_bytes"], "torch_peak_mem_bytes": t["peak_mem_bytes"],
            # No ratio where torch's call allocated nothing measurable (under a page).
            "keras_over_torch_mem": k_mem / t_mem if t_mem > 0 else None,
            "keras_mem_method": k["mem_method"], "torch_mem_method": t["mem_method"],
        })
    return out
