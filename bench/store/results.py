"""The suite's result set on disk: benchmarks.csv merged case by case, and the files read back checked.

results/<machine>/benchmarks.csv   one row per timed case (schema.BENCHMARK_COLUMNS)
results/<machine>/environment.json the machine and versions of every slice on record
results/<machine>/raw/*.json       every round of every case (bench/store/raw.py)

The tables derived from them (comparison.csv, td_tax.csv, onnx.csv) and the
save that writes the whole set are analysis's (bench/analysis/derived.py,
bench/analysis/save.py): the store holds what was measured, not what is
computed from it.

A run replaces the rows of exactly the cases it measured (schema.case_key)
and keeps every other row as it was, so a partial run (`-k`), CPU and GPU
runs, or runs under several Keras backends merge into one file. A case that
failed keeps its previous row unchanged: a test that raised leaves no new
row, and a new row that holds no measurement ("could not run") does not
replace an old one that does.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import noise, raw
from .files import read_csv
from .schema import FILES, GC_BEFORE_RECORDED, MEMORY_COLUMNS, MEMORY_FILES, METHOD_BEFORE_RECORDED, case_key, is_timed
from .validate import check_csv, check_environment


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
    path = Path(results_dir) / FILES["benchmarks"]
    if not path.exists():
        return []
    return check_csv(path, "benchmarks", writing=True)


def load_environment(results_dir: Path) -> dict:
    path = Path(results_dir) / FILES["environment"]
    if not path.exists():
        return {"slices": {}}
    return check_environment(path)


def interval_inputs(results_dir: Path, environment: dict, rounds: dict | None = None) -> tuple[dict, dict]:
    """The raw rounds and the rerun variances that the derived tables' intervals need, from `results_dir`:
    per slice of `environment` that noise.json was measured on, its run-to-run term plus its between-set
    term (a rerun in another hour, bench/store/noise.py run_vars). `rounds`: raw rounds not yet written
    (a run's own), in place of those on record for the same cases."""
    return raw.load(results_dir) | (rounds or {}), noise.run_vars(noise.load(results_dir), environment)


def load_memory(results_dir: Path) -> list[dict]:
    """memory.csv's rows (`python -m bench memory`), or none."""
    path = Path(results_dir) / MEMORY_FILES["memory"]
    return read_csv(path, required=MEMORY_COLUMNS) if path.exists() else []


def runs_provenance(dirs: list[Path]) -> dict:
    """What the runs' environment.json say: when they were taken (first and last slice date), the
    code they timed, and the settings every slice of every run shares (profile, threads, blocks...)."""
    dates, codes, settings = [], [], []
    for d in dirs:
        try:
            slices = json.loads((Path(d) / FILES["environment"]).read_text()).get("slices", {})
        except (OSError, ValueError, AttributeError):
            continue
        for name, env in slices.items() if isinstance(slices, dict) else ():
            dates += [env["date"]] if env.get("date") else []
            codes += [env["code"]] if env.get("code") else []
            key = dict(part.split("=", 1) for part in name.split() if "=" in part)
            settings.append({**{c: key.get(c) for c in ("profile", "keras_backend", "compile")},
                             "threads": env.get("threads"), "blocks": env.get("blocks"),
                             "gc": env.get("gc_in_rounds", GC_BEFORE_RECORDED),
                             "method": env.get("method", METHOD_BEFORE_RECORDED)})
    shared = {c: settings[0][c] for c in settings[0] if all(s[c] == settings[0][c] for s in settings)} if settings else {}
    return {"runs_taken": f"{min(dates)} .. {max(dates)}" if dates else "", "code": ", ".join(dict.fromkeys(codes)),
            "settings": {c: v for c, v in shared.items() if v is not None}}
