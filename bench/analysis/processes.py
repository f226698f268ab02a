"""One slice timed in several processes (`python -m bench run --processes N`), combined into one run.

Each process writes its own directory as a default run would. Here the
cases timed in every process become one row and one raw entry each: the
blocks of every process one after the other, each labelled with its
process (extra_info.block_process), and the row's statistics over all
their rounds. From those labels the statistics publish the mean of the
processes' log ratios, with a variance that holds the variance between
processes measured in this run (bench/analysis/stats.py process_estimates,
pooled_process_var): a process meets one state of the host, and several
processes spread over time meet several. A case not timed in every process
keeps the first process's row and rounds.

`--processes auto` chooses the count as it goes (stop_reason): after the
second process, and after each one after it, the processes so far are
combined and each Keras/torch pair's 95% half-width computed as it would be
published; another process is timed until every pair is within --precision,
AUTO_MAX_PROCESSES have run, or one more (as long as the longest so far)
would end past the budget. Blocks within a process are already adaptive
(bench/suite/session.py extension blocks); this is the level above them.

`combine` reads the processes' directories (a local run, bench/suite/backend_processes.py);
`combine_measured` takes what each process measured as it is held in memory (a cluster run,
whose processes come back as Ray objects, bench/cluster/driver.py): one combination for both.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from pytest_benchmark.stats import Stats

from ..store import raw
from ..store.results import load_benchmarks, load_environment
from ..store.schema import case_key, float_or_none, is_timed
from .derived import comparison_rows

AUTO = "auto"  # --processes auto
AUTO_MIN_PROCESSES = 2  # the fewest that measure the variance between processes
# Each process repeats the whole preparation (about a third of a default run on the 2-vCPU VMs), and the
# between-process term shrinks only as 1/processes: past 6, a tighter interval costs more than a rerun.
AUTO_MAX_PROCESSES = 6
DEFAULT_AUTO_BUDGET_MIN = 20.0  # --auto-budget: minutes per slice

# extra_info lists with one value per block: concatenated over processes like the blocks.
PER_BLOCK = ("block_rounds", "block_other_threads_cpu", "block_minor_faults", "block_started_s")


def _entries(directory: Path) -> list[dict]:
    return [e for path in raw.files(directory) for e in raw.read_file(path)["benchmarks"]]


def _combined_entry(entries: list[dict]) -> dict:
    first = entries[0]
    extra = {k: v for k, v in first["extra_info"].items() if k not in PER_BLOCK and k != "case_key"}
    for name in PER_BLOCK:
        if all(name in e["extra_info"] for e in entries):
            extra[name] = [x for e in entries for x in e["extra_info"][name]]
    extra["block_process"] = [i for i, e in enumerate(entries) for _ in (e["extra_info"].get("block_rounds") or [0])]
    data = [x for e in entries for x in e["stats"]["data"]]
    stats = {**first["stats"], "data": data, "rounds": len(data)}
    return {**first, "extra_info": {**extra, "case_key": first["extra_info"]["case_key"]}, "stats": stats}


def _combined_row(row: dict, data: list[float]) -> dict:
    """`row` (the first process's) with its timing statistics over every process's rounds."""
    stats = Stats()
    for seconds in data:
        stats.update(seconds)
    out = dict(row)
    out.update(rounds=stats.rounds, median_s=stats.median, iqr_s=stats.iqr, min_s=stats.min, mean_s=stats.mean,
               stddev_s=stats.stddev, spread=stats.iqr / stats.median)
    batch, flops, peak = (float_or_none(row.get(c)) for c in ("batch", "flops", "peak_gflops"))
    if batch:
        out["samples_per_s"] = batch / stats.median
    if flops:
        out["gflops"] = flops / stats.median / 1e9
        out["peak_fraction"] = out["gflops"] / peak if peak else None
    return out


def combine(directories: list[Path]) -> tuple[list[dict], list[dict], dict]:
    """(rows, raw entries, environment) of one slice timed once in each of `directories`."""
    measured = []
    for d in directories:
        (environment,) = load_environment(d)["slices"].values()
        measured.append((load_benchmarks(d), _entries(d), environment))
    return combine_measured(measured)


def combine_measured(processes: list[tuple[list[dict], list[dict], dict]]) -> tuple[list[dict], list[dict], dict]:
    """(rows, raw entries, environment) of one slice timed once in each process of `processes`, given as
    each process's (rows, raw entries, slice environment), in the order that numbers them (block_process)."""
    rows = [process_rows for process_rows, _, _ in processes]
    entries = [{case_key(e["extra_info"]["case_key"]): e for e in process_entries} for _, process_entries, _ in processes]
    environment = processes[0][2]
    out_rows, out_entries = [], []
    for row in rows[0]:
        key = case_key(row)
        timed_everywhere = all(any(case_key(r) == key and is_timed(r) for r in rs) for rs in rows) and all(
            key in e for e in entries)
        if not timed_everywhere:
            out_rows.append(row)
            if key in entries[0]:
                out_entries.append(entries[0][key])
            continue
        entry = _combined_entry([e[key] for e in entries])
        out_entries.append(entry)
        out_rows.append(_combined_row(row, entry["stats"]["data"]))
    walls = [(env.get("run") or {}).get("wall_s") for _, _, env in processes]
    # run.wall_s stays one process's (what `bench run` estimates the next run from, times its --processes)
    environment = {**environment, "processes": len(processes),
                   "run": {**(environment.get("run") or {}), "process_wall_s": walls}}
    return out_rows, out_entries, environment


def pair_precisions(rows: list[dict], entries: list[dict]) -> list[float]:
    """Each Keras/torch pair's precision (95% half-width, a fraction) in combined rows and raw entries."""
    rounds = raw.rounds([{"benchmarks": entries}])
    return [r["precision"] for r in comparison_rows(rows, rounds) if r["precision"] is not None]


def stop_reason(precisions: list[float], target: float, done: int, elapsed_s: float, longest_s: float,
                budget_s: float) -> str | None:
    """Why `--processes auto` times no more processes after `done` of them, or None to time one more."""
    if done < AUTO_MIN_PROCESSES:
        return None
    if not precisions:
        return "no Keras/torch pair has a precision to improve"
    if max(precisions) <= target:
        return f"every pair within +-{target:.1%}"
    if done >= AUTO_MAX_PROCESSES:
        return f"{AUTO_MAX_PROCESSES} processes, the most --processes auto times"
    if elapsed_s + longest_s > budget_s:
        return f"one more process would end past the budget ({budget_s / 60:.0f} min)"
    return None


def progress_line(precisions: list[float], target: float, done: int, reason: str | None) -> str:
    """What `--processes auto` says after each combination: where the pairs stand, and what it does next."""
    within = sum(p <= target for p in precisions)
    where = (f"{within} of {len(precisions)} pairs within +-{target:.1%} (median +-{statistics.median(precisions):.1%}, "
             f"worst +-{max(precisions):.1%})" if precisions else "no pair with a precision")
    return f"after {done} process(es): {where}; " + (f"stop: {reason}" if reason else "one more process")
