"""The result files: one column list per file, rows of a run merged by slice, comparison derived.

results/benchmarks.csv   one row per timed case (BENCHMARK_COLUMNS)
results/comparison.csv   Keras vs torch per problem, derived from benchmarks.csv
results/td_tax.csv       looped over fused head (tdtax profile), derived from benchmarks.csv
results/onnx.csv         ONNX Runtime over its source framework, and Keras export over torch export
                         (bench/analysis/onnx_compare.py), derived from benchmarks.csv
results/environment.json the machine and versions of every slice on record
results/raw/*.json       every round of every case (bench/store/raw.py)

A slice is one (keras_backend, device, profile, compile, threads) combination; a case
is a row's CASE_KEY. A run replaces the rows of exactly the cases it measured
and keeps every other row as it was, so a partial run (`-k`), CPU and GPU
runs, or runs under several Keras backends merge into one file. A case that
failed keeps its previous row unchanged: a test that raised leaves no new
row, and a new row that holds no measurement ("could not run") does not
replace an old one that does. Each slice's entry in environment.json
describes the latest run that wrote rows into it.

The files are checked before they are read (bench/store/validate.py) and written,
raw/ included, as one set (storage.write_set) under the directory's lock
(bench/store/lock.py): all new or all old, whatever fails, one writer at a time.
"""

from __future__ import annotations

import math
from pathlib import Path

from impls.spec import SIZE_FIELDS

from .storage import cells, csv_text, json_text, number, plain_name, write_set

SLICE_COLUMNS = ["keras_backend", "device", "profile", "compile", "threads"]
SIZE_COLUMNS = ["batch", *SIZE_FIELDS]  # the batch, then every ModelSpec size
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
    "samples_per_s", "flops", "gflops", "peak_gflops", "peak_fraction", "max_abs_diff",
    "loss_rel_diff", "compiles_per_call", "graph_breaks", *ONNX_COLUMNS,
    "kernel", "status", "framework_version", "backend_version", "date",
]

REQUIRED_BENCHMARK_COLUMNS = [c for c in BENCHMARK_COLUMNS if c not in ONNX_COLUMNS]

COMPARISON_COLUMNS = [
    "keras_backend", "profile", "device", "compile", "threads", "topology", "mode", "size", *SIZE_COLUMNS,
    "keras_head", "torch_head", "keras_compiler", "torch_compiler",
    "keras_median_s", "torch_median_s", "keras_over_torch", "ci_low", "ci_high", "keras_spread", "torch_spread",
    "params_keras", "params_torch", "max_abs_diff", "keras_kernel", "torch_kernel",
]

TD_TAX_COLUMNS = [
    "topology", "framework", "backend", "keras_backend", "compile", "compiler", "mode", "device", "timesteps",
    "looped_head", "fused_head", "looped_s", "fused_s", "tax", "looped_spread", "fused_spread",
]

# The files a suite run writes as one set (save_run), checked before each run (bench/store/validate.py).
FILES = dict(
    benchmarks="benchmarks.csv", comparison="comparison.csv", td_tax="td_tax.csv",
    environment="environment.json", onnx="onnx.csv",
)
# Every timed round, one file per slice (bench/store/raw.py), written in the same set.
RAW_DIR = "raw"
# The files that commands write beside them, each on its own.
COMMAND_FILES = dict(
    parity="parity.csv", params="params.csv", seed="seed.csv", noise="noise.json", stability="stability.csv",
    stability_history="stability_history.csv", stability_sets="stability_sets.csv", memory="memory.csv",
    memory_comparison="memory_comparison.csv",
)


def set_member(name: str) -> bool:
    """Whether a suite run writes `name` (relative to its results directory) in its set: the only
    names storage.write_set stages and a commit marker may name."""
    folder, _, base = name.rpartition("/")
    if folder == RAW_DIR:
        return base.endswith(".json") and plain_name(base)
    return not folder and name in FILES.values()


def slice_of(row: dict) -> tuple:
    return tuple(str(row[c]) for c in SLICE_COLUMNS)


def slice_name(key: tuple) -> str:
    return " ".join(f"{c}={v}" for c, v in zip(SLICE_COLUMNS, key))


def case_key(row: dict) -> tuple:
    return tuple("" if row[c] is None else str(row[c]) for c in CASE_KEY)


def merge_rows(old: list[dict], new: list[dict]) -> list[dict]:
    """Old rows with each measured case's row replaced in place, then the rows of new cases.

    A new row without a measurement does not replace an old row with one: the
    case failed this time, and its last measurement stays on record.
    """
    merged = list(old)
    where = {case_key(r): i for i, r in enumerate(merged)}
    for row in new:
        i = where.get(case_key(row))
        if i is None:
            where[case_key(row)] = len(merged)
            merged.append(row)
        elif is_timed(row) or not is_timed(merged[i]):
            merged[i] = row
    return merged


def load_benchmarks(results_dir: Path) -> list[dict]:
    """The rows on record, checked (bench/store/validate.py); an older file's missing optional columns read as ""."""
    from .validate import check_csv

    path = Path(results_dir) / FILES["benchmarks"]
    if not path.exists():
        return []
    return check_csv(path, "benchmarks", writing=True)


def is_measurement(median) -> bool:
    """A median that is a measurement: a finite number above 0 ("", None, NaN, 0 and inf are not)."""
    value = number(median)
    return value is not None and math.isfinite(value) and value > 0


def is_timed(row) -> bool:
    """A row that holds a measurement (not a case that could not run); frames.timed is this, for a frame."""
    return row["status"] == "ok" and is_measurement(row["median_s"])


def keras_torch_pairs(rows: list[dict]):
    """(Keras row, torch row) for every timed Keras row against every timed torch row of its problem and slice."""
    timed = [r for r in rows if is_timed(r)]
    problem = lambda r: tuple(str(r[c]) for c in [*SLICE_COLUMNS, "topology", "mode", "size", *SIZE_COLUMNS])
    torch_rows = {}
    for r in timed:
        if r["framework"] == "torch":
            torch_rows.setdefault(problem(r), []).append(r)
    for k in timed:
        if k["framework"] == "keras":
            for t in torch_rows.get(problem(k), []):
                yield k, t


def comparison_row(k: dict, t: dict, raw: dict | None = None, run_var: float | None = None) -> dict:
    """One row of comparison.csv: Keras row `k` against torch row `t` (see comparison_rows)."""
    from ..analysis.stats import ratio, ratio_interval

    k_med, t_med = float(k["median_s"]), float(t["median_s"])
    diffs = [d for d in (number(k["max_abs_diff"]), number(t["max_abs_diff"])) if d is not None]
    return {
        **{c: k[c] for c in [*SLICE_COLUMNS, "topology", "mode", "size", *SIZE_COLUMNS]},
        "keras_head": k["head"], "torch_head": t["head"],
        "keras_compiler": k["compiler"], "torch_compiler": t["compiler"],
        "keras_median_s": k_med, "torch_median_s": t_med,
        "keras_over_torch": ratio(k, t, raw or {}),  # from paired blocks when it has them: near, not equal to, k_med / t_med
        **dict(zip(("ci_low", "ci_high"), ratio_interval(k, t, raw or {}, run_var))),
        "keras_spread": number(k["spread"]), "torch_spread": number(t["spread"]),
        "params_keras": k["params"], "params_torch": t["params"],
        "max_abs_diff": max(diffs) if diffs else None,
        "keras_kernel": k["kernel"], "torch_kernel": t["kernel"],
    }


def comparison_rows(rows: list[dict], raw: dict | None = None, run_var: float | None = None) -> list[dict]:
    """Every Keras row against every torch row of the same problem, slice and compile setting.

    ci_low/ci_high: bench/analysis/stats.py's rerun interval, from the raw rounds (`raw`,
    bench/store/raw.py load) and the machine's run-to-run variance (`run_var`,
    bench/store/noise.py); empty when the run-to-run variance is unknown.
    """
    return [comparison_row(k, t, raw, run_var) for k, t in keras_torch_pairs(rows)]


def td_tax_rows(rows: list[dict], raw: dict | None = None) -> list[dict]:
    """Looped head over fused head, same everything else, from the tdtax profile's rows (`raw`: their rounds)."""
    from impls.spec import LOOPED_HEADS

    from ..analysis.stats import ratio

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
                "tax": ratio(looped, fused, raw or {}),
                "looped_spread": number(looped["spread"]), "fused_spread": number(fused["spread"]),
            }
        )
    return sorted(out, key=lambda r: (
        r["topology"], r["keras_backend"], r["framework"], r["looped_head"], r["compile"], r["mode"], int(r["timesteps"])))


def load_environment(results_dir: Path) -> dict:
    from .validate import check_environment

    path = Path(results_dir) / FILES["environment"]
    if not path.exists():
        return {"slices": {}}
    return check_environment(path)


def interval_inputs(results_dir: Path, rounds: dict | None = None) -> tuple[dict, float | None]:
    """The raw rounds and the rerun variance that comparison_rows needs, from `results_dir`: noise.json's
    run-to-run term plus its between-set term (a rerun in another hour, bench/store/noise.py).
    `rounds`: raw rounds not yet written (a run's own), in place of those on record for the same cases."""
    from . import noise, raw

    model = noise.load(results_dir)
    return raw.load(results_dir) | (rounds or {}), None if model is None else noise.rerun_ratio_var(model)


def save_run(results_dir: Path, new_rows: list[dict], environment: dict, raw_entries: list[dict] = (),
             raw_version: str = "") -> None:
    """Merge a run's rows, and its raw rounds (bench/store/raw.py entries), into the result files, as one set.

    Reads everything before writing anything, under the directory's lock (bench/store/lock.py).
    """
    from . import lock, raw

    results_dir = Path(results_dir)
    for i, row in enumerate(new_rows):
        missing = [c for c in BENCHMARK_COLUMNS if c not in row]
        if missing:
            raise ValueError(f"new row {i} lacks column(s) {', '.join(missing)}")
    from .validate import check_results_dir

    with lock.held(results_dir):
        check_results_dir(results_dir, writing=True)  # every file of the set, not only those read here
        raw_docs = raw.merged(results_dir, list(raw_entries), environment, raw_version, environment.get("date", ""))
        files = derived_files(results_dir, new_rows, environment, raw.rounds(raw_docs.values()))
        write_set(results_dir, {**raw.texts(raw_docs), **files})


def derived_files(results_dir: Path, new_rows: list[dict], environment: dict, new_rounds: dict) -> dict[str, str]:
    """The CSVs and environment.json of the set with `new_rows` merged in, as file name -> text."""
    # As the file's strings, so new rows and rows read back compare alike (None is "", 5 is "5").
    new_rows = [cells(r, BENCHMARK_COLUMNS) for r in new_rows]
    merged = merge_rows(load_benchmarks(results_dir), new_rows)
    env = load_environment(results_dir)
    for key in sorted({slice_of(r) for r in new_rows}):
        env["slices"][slice_name(key)] = environment
    raw, run_var = interval_inputs(results_dir, new_rounds)
    files = {
        FILES["benchmarks"]: csv_text(merged, BENCHMARK_COLUMNS),
        FILES["comparison"]: csv_text(comparison_rows(merged, raw, run_var), COMPARISON_COLUMNS),
    }
    td_tax = td_tax_rows(merged, raw)
    if td_tax:
        files[FILES["td_tax"]] = csv_text(td_tax, TD_TAX_COLUMNS)
    from ..analysis.onnx_compare import ONNX_RATIO_COLUMNS, onnx_ratio_rows

    onnx = onnx_ratio_rows(merged, raw, run_var)
    if onnx:
        files[FILES["onnx"]] = csv_text(onnx, ONNX_RATIO_COLUMNS)
    files[FILES["environment"]] = json_text(env)
    return files
