"""The result files: one column list per file, rows of a run merged by slice, comparison derived.

results/benchmarks.csv   one row per timed case (BENCHMARK_COLUMNS)
results/comparison.csv   Keras vs torch per problem, derived from benchmarks.csv
results/td_tax.csv       looped over fused head (tdtax profile), derived from benchmarks.csv
results/onnx.csv         ONNX Runtime over its source framework, and Keras export over torch export
                         (bench/onnx_compare.py), derived from benchmarks.csv
results/environment.json the machine and versions of every slice on record

A slice is one (keras_backend, device, profile, compile) combination. A run
replaces exactly the slices it measured and keeps every other row, so CPU
and GPU runs, or runs under several Keras backends, merge into one file.
"""

from __future__ import annotations

import json
from pathlib import Path

from .storage import read_csv, write_csv, write_json

SLICE_COLUMNS = ["keras_backend", "device", "profile", "compile"]
SIZE_COLUMNS = ["batch", "timesteps", "features", "units", "outputs", "vocab_size", "embedding_dim", "dense_units"]
# What identifies a case across runs (and across versions, for `bench compare`).
CASE_KEY = ["topology", "framework", "backend", "head", "mode", "size", *SIZE_COLUMNS, *SLICE_COLUMNS]

# Filled by ONNX Runtime rows only: the exporter, ORT's graph optimisation level, and the node
# and matmul counts of the exported graph (onnx_*) and of ORT's optimised graph (ort_*).
# A benchmarks.csv written before they existed reads them as empty.
ONNX_COLUMNS = ["exporter", "graph_opt", "onnx_nodes", "onnx_matmuls", "ort_nodes", "ort_matmuls"]

BENCHMARK_COLUMNS = [
    "topology", "framework", "backend", "keras_backend", "head", "compile", "compiler", "mode",
    "device", "profile", "size", *SIZE_COLUMNS, "params", "threads", "rounds",
    "median_s", "iqr_s", "min_s", "mean_s", "stddev_s", "spread", "first_call_s",
    "samples_per_s", "flops", "gflops", "peak_gflops", "peak_fraction", "max_abs_diff", *ONNX_COLUMNS,
    "kernel", "status", "framework_version", "backend_version", "date",
]

REQUIRED_BENCHMARK_COLUMNS = [c for c in BENCHMARK_COLUMNS if c not in ONNX_COLUMNS]

COMPARISON_COLUMNS = [
    "keras_backend", "profile", "device", "compile", "topology", "mode", "size", *SIZE_COLUMNS,
    "keras_head", "torch_head", "keras_compiler", "torch_compiler",
    "keras_median_s", "torch_median_s", "keras_over_torch", "keras_spread", "torch_spread",
    "params_keras", "params_torch", "max_abs_diff", "keras_kernel", "torch_kernel",
]

TD_TAX_COLUMNS = [
    "framework", "backend", "keras_backend", "compile", "compiler", "mode", "device", "timesteps",
    "looped_head", "fused_head", "looped_s", "fused_s", "tax", "looped_spread", "fused_spread",
]

FILES = dict(
    benchmarks="benchmarks.csv", comparison="comparison.csv", td_tax="td_tax.csv",
    environment="environment.json", onnx="onnx.csv",
)


def slice_of(row: dict) -> tuple:
    return tuple(str(row[c]) for c in SLICE_COLUMNS)


def slice_name(key: tuple) -> str:
    return " ".join(f"{c}={v}" for c, v in zip(SLICE_COLUMNS, key))


def merge_rows(old: list[dict], new: list[dict]) -> list[dict]:
    """Old rows of slices the new run did not measure, then all new rows."""
    measured = {slice_of(r) for r in new}
    return [r for r in old if slice_of(r) not in measured] + list(new)


def load_benchmarks(results_dir: Path) -> list[dict]:
    path = Path(results_dir) / FILES["benchmarks"]
    if not path.exists():
        return []
    rows = read_csv(path, required=REQUIRED_BENCHMARK_COLUMNS)
    for row in rows:
        for column in ONNX_COLUMNS:
            row.setdefault(column, "")
    return rows


def _number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def is_timed(row: dict) -> bool:
    """A row that holds a measurement (not a case that could not run)."""
    return row["status"] == "ok" and bool(_number(row["median_s"]))


def comparison_rows(rows: list[dict]) -> list[dict]:
    """Every Keras row against every torch row of the same problem, slice and compile setting."""
    timed = [r for r in rows if is_timed(r)]
    problem = lambda r: tuple(str(r[c]) for c in [*SLICE_COLUMNS, "topology", "mode", "size", *SIZE_COLUMNS])
    torch_rows = {}
    for r in timed:
        if r["framework"] == "torch":
            torch_rows.setdefault(problem(r), []).append(r)
    out = []
    for k in timed:
        if k["framework"] != "keras":
            continue
        for t in torch_rows.get(problem(k), []):
            k_med, t_med = float(k["median_s"]), float(t["median_s"])
            diffs = [d for d in (_number(k["max_abs_diff"]), _number(t["max_abs_diff"])) if d is not None]
            out.append(
                {
                    **{c: k[c] for c in [*SLICE_COLUMNS, "topology", "mode", "size", *SIZE_COLUMNS]},
                    "keras_head": k["head"], "torch_head": t["head"],
                    "keras_compiler": k["compiler"], "torch_compiler": t["compiler"],
                    "keras_median_s": k_med, "torch_median_s": t_med,
                    "keras_over_torch": k_med / t_med,
                    "keras_spread": _number(k["spread"]), "torch_spread": _number(t["spread"]),
                    "params_keras": k["params"], "params_torch": t["params"],
                    "max_abs_diff": max(diffs) if diffs else None,
                    "keras_kernel": k["kernel"], "torch_kernel": t["kernel"],
                }
            )
    return out


def td_tax_rows(rows: list[dict]) -> list[dict]:
    """Looped head over fused head, same everything else, from the tdtax profile's rows."""
    from impls.spec import LOOPED_HEADS

    key_columns = ["keras_backend", "framework", "backend", "compile", "mode", "device", "timesteps"]
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
                "tax": float(looped["median_s"]) / float(fused["median_s"]),
                "looped_spread": _number(looped["spread"]), "fused_spread": _number(fused["spread"]),
            }
        )
    return sorted(out, key=lambda r: (r["keras_backend"], r["framework"], r["looped_head"], r["compile"], r["mode"], int(r["timesteps"])))


def load_environment(results_dir: Path) -> dict:
    path = Path(results_dir) / FILES["environment"]
    if not path.exists():
        return {"slices": {}}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(data.get("slices"), dict):
        raise ValueError(f"{path}: expected an object with a 'slices' mapping")
    return data


def save_run(results_dir: Path, new_rows: list[dict], environment: dict) -> None:
    """Merge a run's rows into the result files. Reads everything before writing anything."""
    results_dir = Path(results_dir)
    for i, row in enumerate(new_rows):
        missing = [c for c in BENCHMARK_COLUMNS if c not in row]
        if missing:
            raise ValueError(f"new row {i} lacks column(s) {', '.join(missing)}")
    merged = merge_rows(load_benchmarks(results_dir), new_rows)
    env = load_environment(results_dir)
    for key in sorted({slice_of(r) for r in new_rows}):
        env["slices"][slice_name(key)] = environment
    write_csv(results_dir / FILES["benchmarks"], merged, BENCHMARK_COLUMNS)
    write_csv(results_dir / FILES["comparison"], comparison_rows(merged), COMPARISON_COLUMNS)
    td_tax = td_tax_rows(merged)
    if td_tax:
        write_csv(results_dir / FILES["td_tax"], td_tax, TD_TAX_COLUMNS)
    from .onnx_compare import ONNX_RATIO_COLUMNS, onnx_ratio_rows

    onnx = onnx_ratio_rows(merged)
    if onnx:
        write_csv(results_dir / FILES["onnx"], onnx, ONNX_RATIO_COLUMNS)
    write_json(results_dir / FILES["environment"], env)
