"""The saves that derive tables: a run's rows and raw rounds merged into its result set (save_run), and
`bench memory`'s rows with memory_comparison.csv (save_memory).

Reads everything before writing anything, under the directory's lock
(bench/store/lock.py), and writes benchmarks.csv, the derived tables
(bench/analysis/derived.py), environment.json and raw/ as one set
(bench/store/storage.py write_set): all new or all old, whatever fails, one
writer at a time. Each slice's entry in environment.json describes the
latest run that wrote rows into it.
"""

from __future__ import annotations

from pathlib import Path

from ..store import lock, raw
from ..store.command_rows import save_rows
from ..store.files import cells, csv_text, json_text, write_csv
from ..store.results import interval_inputs, load_benchmarks, load_environment, load_memory, merge_rows
from ..store.schema import (
    BENCHMARK_COLUMNS, CASE_KEY, COMPARISON_COLUMNS, FILES, MEMORY_COLUMNS, MEMORY_COMPARISON_COLUMNS, MEMORY_FILES,
    ONNX_RATIO_COLUMNS, TD_TAX_COLUMNS, slice_name, slice_of,
)
from ..store.storage import write_set
from ..store.validate import check_results_dir
from .derived import comparison_rows, memory_comparison_rows, onnx_ratio_rows, td_tax_rows


def save_run(results_dir: Path, new_rows: list[dict], environment: dict, raw_entries: list[dict] = (),
             raw_version: str = "") -> None:
    """Merge a run's rows, and its raw rounds (bench/store/raw.py entries), into the result files, as one set."""
    results_dir = Path(results_dir)
    for i, row in enumerate(new_rows):
        missing = [c for c in BENCHMARK_COLUMNS if c not in row]
        if missing:
            raise ValueError(f"new row {i} lacks column(s) {', '.join(missing)}")
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
    rounds, run_vars = interval_inputs(results_dir, env, new_rounds)
    files = {
        FILES["benchmarks"]: csv_text(merged, BENCHMARK_COLUMNS),
        FILES["comparison"]: csv_text(comparison_rows(merged, rounds, run_vars), COMPARISON_COLUMNS),
    }
    td_tax = td_tax_rows(merged, rounds)
    if td_tax:
        files[FILES["td_tax"]] = csv_text(td_tax, TD_TAX_COLUMNS)
    onnx = onnx_ratio_rows(merged, rounds, run_vars)
    if onnx:
        files[FILES["onnx"]] = csv_text(onnx, ONNX_RATIO_COLUMNS)
    files[FILES["environment"]] = json_text(env)
    return files


def save_memory(results_dir: Path, new_rows: list[dict]) -> None:
    """Merge by case (not by slice: a run narrowed with --topology, --mode or --size keeps the rest of its
    slice), in this machine's set only, then derive the comparison; one writer at a time."""
    results_dir = Path(results_dir)
    with lock.held(results_dir):
        save_rows(results_dir / MEMORY_FILES["memory"], new_rows, MEMORY_COLUMNS, group=tuple(CASE_KEY))
        # Read back as strings, the form every other reader gets.
        write_csv(results_dir / MEMORY_FILES["comparison"], memory_comparison_rows(load_memory(results_dir)),
                  MEMORY_COMPARISON_COLUMNS)
