"""results/onnx.csv: ONNX Runtime against the framework a model came from, and the two exports against each other.

Derived from benchmarks.csv on every save (bench/store/results.py), one row per ratio:

- `ort_over_source`: an ORT row over the row of its source framework and head
  in the same slice and problem (onnxruntime keras-timedistributed over keras
  timedistributed). Below 1: serving the export in ORT is faster than the
  framework's own inference call.
- `keras_export_over_torch_export`: ORT running the Keras export over ORT
  running the torch export, for every pair of their heads (as comparison.csv
  pairs every Keras head with every torch head).

The spreads are each row's IQR/median, and `ci_low`, `ci_high` the same 95%
rerun interval comparison.csv gives its ratios (bench/analysis/stats.py ratio_interval).
"""

from __future__ import annotations

from ..store.results import SIZE_COLUMNS, SLICE_COLUMNS, is_timed
from ..store.storage import number

ORT = "onnxruntime"
PROBLEM = [*SLICE_COLUMNS, "topology", "mode", "size", *SIZE_COLUMNS]
ONNX_RATIO_COLUMNS = [
    *SLICE_COLUMNS, "topology", "mode", "size", *SIZE_COLUMNS, "ratio",
    "numerator", "denominator", "numerator_median_s", "denominator_median_s", "value", "ci_low", "ci_high",
    "numerator_spread", "denominator_spread", "exporter", "onnx_nodes", "ort_nodes",
]


def _label(row: dict) -> str:
    return f"{row['framework']} {row['head']}"


def _ratio(kind: str, top: dict, bottom: dict, raw: dict, run_var: float | None) -> dict:
    from .stats import ratio, ratio_interval

    top_s, bottom_s = float(top["median_s"]), float(bottom["median_s"])
    ci_low, ci_high = ratio_interval(top, bottom, raw, run_var)
    return {
        **{c: top[c] for c in PROBLEM}, "ratio": kind,
        "numerator": _label(top), "denominator": _label(bottom),
        "numerator_median_s": top_s, "denominator_median_s": bottom_s, "value": ratio(top, bottom, raw),
        "ci_low": ci_low, "ci_high": ci_high,
        "numerator_spread": number(top["spread"]), "denominator_spread": number(bottom["spread"]),
        "exporter": top.get("exporter", ""), "onnx_nodes": top.get("onnx_nodes", ""), "ort_nodes": top.get("ort_nodes", ""),
    }


def source_of(head: str) -> tuple[str, str]:
    """"keras-timedistributed" -> ("keras", "timedistributed"); "torch" -> ("torch", "n/a")."""
    from ..suite.cases import NO_HEAD

    source, _, head = head.partition("-")
    return source, head or NO_HEAD


def onnx_ratio_rows(rows: list[dict], raw: dict | None = None, run_var: float | None = None) -> list[dict]:
    timed = [r for r in rows if is_timed(r)]
    problem = lambda r: tuple(str(r[c]) for c in PROBLEM)
    by_variant = {(problem(r), r["framework"], r["head"]): r for r in timed if r["framework"] != ORT}
    ort_rows = [r for r in timed if r["framework"] == ORT]
    out = []
    for r in ort_rows:
        source = by_variant.get((problem(r), *source_of(r["head"])))
        if source is not None:
            out.append(_ratio("ort_over_source", r, source, raw or {}, run_var))
    for k in ort_rows:
        if source_of(k["head"])[0] != "keras":
            continue
        for t in ort_rows:
            if source_of(t["head"])[0] == "torch" and problem(t) == problem(k):
                out.append(_ratio("keras_export_over_torch_export", k, t, raw or {}, run_var))
    return out
