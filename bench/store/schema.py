"""What a result record is: the columns of every file, the file names, and the keys that join them.

The leaf of bench/: it imports nothing from the project but ModelSpec's size
field names (impls/spec.py), so every other module may import it.

Words used across the files:

- a *slice* is one (keras_backend, device, profile, compile, threads)
  combination (SLICE_COLUMNS): what one run of the suite measures;
- a *case* is one row of benchmarks.csv, identified by CASE_KEY, the one key
  that joins benchmarks.csv, raw/*.json, memory.csv and a second result set
  (`case_key`, with every cell normalised by `key_cell`);
- a *problem* is what a Keras row and a torch row must share to be compared
  (PROBLEM_KEY): the slice, the topology, the mode and the sizes.
"""

from __future__ import annotations

import math
import re

from impls.spec import SIZE_FIELDS

# --- the columns ----------------------------------------------------------------------------

SLICE_COLUMNS = ["keras_backend", "device", "profile", "compile", "threads"]
# How rounds are taken and combined, recorded in every slice (environment.json "method") and in the noise
# model: a noise model measured under one method never widens the intervals of another, and stability
# sets of different methods never pool. 1: fixed blocks, Keras first in every block, a warm-up round per
# block, the rounds' bootstrap as a floor. 2: blocks in ABBA order, a warm-up call, extension blocks to
# --precision, the paired blocks' variance alone.
MEASUREMENT_METHOD = 2
METHOD_BEFORE_RECORDED = 1
# Whether Python's garbage collector ran during timed rounds (environment.json "gc_in_rounds"):
# slices and `bench stability`'s history rows from before the suite recorded it had it on, pytest-benchmark's default.
GC_BEFORE_RECORDED = "on"
SIZE_COLUMNS = ["batch", *SIZE_FIELDS]  # the batch, then every ModelSpec size
# What identifies a case across runs (and across versions, for `bench compare`).
CASE_KEY = ["topology", "framework", "backend", "head", "mode", "size", *SIZE_COLUMNS, *SLICE_COLUMNS]
# What a Keras row and a torch row (or an ONNX Runtime row and its source) share to be compared.
PROBLEM_KEY = [*SLICE_COLUMNS, "topology", "mode", "size", *SIZE_COLUMNS]
MODES = ("train", "infer")  # the mode column's values, in the order tables show them
# The head cell of a topology without a per-timestep head (Dense on the last state only).
NO_HEAD = "n/a"

# Filled by ONNX Runtime rows only: the exporter, ORT's graph optimisation level, and the node
# and matmul counts of the exported graph (onnx_*) and of ORT's optimised graph (ort_*).
# A benchmarks.csv written before they existed reads them as empty.
ONNX_COLUMNS = ["exporter", "graph_opt", "onnx_nodes", "onnx_matmuls", "ort_nodes", "ort_matmuls"]

# Filled only by a run with --compile-cache DIR (bench/suite/options.py): whether each case's first call
# met a cold or a warm persistent compile cache (impls/compile_cache.py state). Empty otherwise, and in
# a benchmarks.csv written before it existed. Last, so the columns before it keep their places.
CACHE_COLUMNS = ["compile_cache"]

BENCHMARK_COLUMNS = [
    "topology", "framework", "backend", "keras_backend", "head", "compile", "compiler", "mode",
    "device", "profile", "size", *SIZE_COLUMNS, "params", "threads", "rounds",
    "median_s", "iqr_s", "min_s", "mean_s", "stddev_s", "spread", "first_call_s",
    "samples_per_s", "flops", "gflops", "peak_gflops", "peak_fraction", "max_abs_diff",
    "loss_rel_diff", "compiles_per_call", "graph_breaks", *ONNX_COLUMNS,
    "kernel", "status", "framework_version", "backend_version", "date", *CACHE_COLUMNS,
]

REQUIRED_BENCHMARK_COLUMNS = [c for c in BENCHMARK_COLUMNS if c not in ONNX_COLUMNS + CACHE_COLUMNS]

COMPARISON_COLUMNS = [
    "keras_backend", "profile", "device", "compile", "threads", "topology", "mode", "size", *SIZE_COLUMNS,
    "keras_head", "torch_head", "keras_compiler", "torch_compiler",
    "keras_median_s", "torch_median_s", "keras_over_torch", "ci_low", "ci_high", "interval_noise", "blocks", "precision", "keras_spread", "torch_spread",
    "params_keras", "params_torch", "max_abs_diff", "keras_kernel", "torch_kernel",
]
# What identifies a Keras/torch pair across runs and sets: comparison.csv's columns up to the compilers.
PAIR_KEY = COMPARISON_COLUMNS[: COMPARISON_COLUMNS.index("keras_compiler")]

TD_TAX_COLUMNS = [
    "topology", "framework", "backend", "keras_backend", "compile", "compiler", "mode", "device", "timesteps",
    "looped_head", "fused_head", "looped_s", "fused_s", "tax", "looped_spread", "fused_spread",
]

ONNX_RATIO_COLUMNS = [
    *PROBLEM_KEY, "ratio",
    "numerator", "denominator", "numerator_median_s", "denominator_median_s", "value", "ci_low", "ci_high",
    "numerator_spread", "denominator_spread", "exporter", "onnx_nodes", "ort_nodes",
]

# --- the files ------------------------------------------------------------------------------

# The files a suite run writes as one set (bench/analysis/save.py save_run), checked before each
# run (bench/store/validate.py).
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
    memory_comparison="memory_comparison.csv", detection="detection.csv",
)

# A cluster run's task log (bench/cluster/driver.py writes it, bench/analysis/cluster_plan.py reads it):
# one row per task, times in seconds since the epoch (start and end on the node's clock).
CLUSTER_TASKS = "logs/cluster-tasks.csv"
CLUSTER_TASK_COLUMNS = ["run_started", "code", "unit", "keras_backend", "threads", "node_id", "node_address", "submitted",
                        "start", "end", "arrived", "pytest_s", "returncode", "rows", "outcome"]

PLAIN_NAME = re.compile(r"[A-Za-z0-9_.-]+")  # what a file name built from a cell may hold


def plain_name(text: str) -> bool:
    """A name with no separator, no "..", nothing a shell or a path would read: safe to build a file name from."""
    return bool(PLAIN_NAME.fullmatch(text)) and ".." not in text


def set_member(name: str) -> bool:
    """Whether a suite run writes `name` (relative to its results directory) in its set: the only
    names storage.write_set stages and a commit marker may name."""
    folder, _, base = name.rpartition("/")
    if folder == RAW_DIR:
        return base.endswith(".json") and plain_name(base)
    return not folder and name in FILES.values()


# --- cells and keys -------------------------------------------------------------------------


def float_or_none(cell) -> float | None:
    """A cell as a float, or None where it holds no number ("", None, "fast")."""
    try:
        return float(cell)
    except (TypeError, ValueError):
        return None


def key_cell(value) -> str:
    """One spelling per value, however a CSV was re-saved: 1000, 1000.0 -> "1000"; "", NaN, None -> ""."""
    if value is None:
        return ""
    text = str(value).strip()
    if text.lower() in ("", "nan", "none", "null"):
        return ""
    try:
        as_float = float(text)
    except ValueError:
        return text
    if math.isfinite(as_float) and as_float == int(as_float):
        return str(int(as_float))
    return repr(as_float)


def case_key(row: dict) -> tuple:
    """The one key of a case (CASE_KEY, cells normalised): benchmarks.csv, raw/, memory.csv and compare join on it."""
    return tuple(key_cell(row.get(c)) for c in CASE_KEY)


def problem_key(row: dict) -> tuple:
    """The problem of a row (PROBLEM_KEY, cells normalised): rows compared with each other share it."""
    return tuple(key_cell(row.get(c)) for c in PROBLEM_KEY)


def pair_key(row: dict) -> tuple:
    """The key of a comparison row (PAIR_KEY, cells normalised): stability, compare and noise.json join pairs on it."""
    return tuple(key_cell(row.get(c)) for c in PAIR_KEY)


def slice_of(row: dict) -> tuple:
    return tuple(str(row[c]) for c in SLICE_COLUMNS)


def slice_name(key: tuple) -> str:
    return " ".join(f"{c}={v}" for c, v in zip(SLICE_COLUMNS, key))


def is_measurement(median) -> bool:
    """A median that is a measurement: a finite number above 0 ("", None, NaN, 0 and inf are not)."""
    value = float_or_none(median)
    return value is not None and math.isfinite(value) and value > 0


def is_timed(row) -> bool:
    """A row that holds a measurement (not a case that could not run); dataframes.timed is this, for a frame."""
    return row["status"] == "ok" and is_measurement(row["median_s"])


def keras_torch_pairs(rows: list[dict], keep=lambda row: True):
    """(Keras row, torch row) for every kept Keras row against every kept torch row of its problem.

    The one pairing of the suite: comparison.csv, memory_comparison.csv and the
    statistics of `bench stability` and `bench compare` all pair rows this way.
    """
    kept = [r for r in rows if keep(r)]
    torch_rows: dict[tuple, list[dict]] = {}
    for r in kept:
        if r["framework"] == "torch":
            torch_rows.setdefault(problem_key(r), []).append(r)
    for k in kept:
        if k["framework"] == "keras":
            for t in torch_rows.get(problem_key(k), []):
                yield k, t


# --- peak memory (`python -m bench memory`) ------------------------------------------------

MEMORY_FILES = dict(memory=COMMAND_FILES["memory"], comparison=COMMAND_FILES["memory_comparison"])
MEMORY_COLUMNS = [
    "topology", "framework", "backend", "keras_backend", "head", "compile", "mode", "device", "profile",
    "size", *SIZE_COLUMNS, "params", "threads", "peak_mem_bytes", "first_call_mem_bytes", "baseline_bytes",
    "mem_method", "status", "framework_version", "backend_version", "date",
]
MEMORY_COMPARISON_COLUMNS = [
    *PROBLEM_KEY, "keras_head", "torch_head",
    "keras_peak_mem_bytes", "torch_peak_mem_bytes", "keras_over_torch_mem", "keras_mem_method", "torch_mem_method",
]
