"""Raw timings: every timed round of every case, so each statistic can be recomputed from files.

results/raw/<slice>.json, one file per slice (keras_backend, device, profile,
compile, threads), written in pytest-benchmark's own `--benchmark-json`
layout (with `--benchmark-save-data`), so its tools read it as they are:

    {
      "version": "5.2.3",                 # pytest-benchmark's version
      "datetime": "2026-11-29T10:00:00+00:00",
      "machine_info": {...},              # bench/suite/environment.py collect(): machine, threads, versions
      "commit_info": {},
      "benchmarks": [                     # one entry per timed case
        {
          "name": "many_to_many-keras-timedistributed-train-cpu-mid",
          "group": "...",
          "extra_info": {"case_key": {CASE_KEY column: cell, ...},
                         "block_rounds": [rounds of block 1, of block 2, ...],
                         "block_other_threads_cpu": [per block: CPU s of other threads per s],
                         "block_minor_faults": [per block: minor page faults per call],
                         "block_started_s": [per block: its start, s since the session began],
                         "block_process": [per block: the process it was timed in; runs of several
                                           processes only, `bench run --processes`], ...},
          "stats": {"data": [seconds per call, one per round, in the order timed],
                    "iterations": calls per round, "rounds": ..., "median": ..., ...}
        }, ...
      ]
    }

A case is timed in blocks (bench/suite/session.py): `data` holds the blocks one
after the other and `block_rounds` says where each ends. Between two blocks
of a case, other cases ran (bench/conftest.py block_order: one block of
every case in turn, Keras and torch of a problem side by side), so the
blocks sample the machine at different moments. A file without
`block_rounds` (written before blocks) reads as one block.

`extra_info.case_key` holds the case's bench/store/schema.py CASE_KEY columns
(cells normalised by `key_cell`), the join to benchmarks.csv. A run merges
its cases into its slice's file case by case, as the CSV rows are merged.
A file that cannot be read is a ResultsError naming the file (exit 2 in the
commands). A suite run's raw files are written in the same set write as its
CSVs (bench/analysis/save.py save_run): all old or all new together.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from .files import ResultsError, json_text
from .schema import CASE_KEY, RAW_DIR, case_key, key_cell
from .storage import write_set


def slice_member(row: dict) -> str:
    """raw/tensorflow-cpu-quick-off-t1.json (relative to the results directory) for a row or case key dict of that slice."""
    parts = [key_cell(row.get(c)) or "none" for c in ("keras_backend", "device", "profile", "compile")]
    threads = key_cell(row.get("threads"))
    return f"{RAW_DIR}/" + "-".join(parts) + (f"-t{threads}" if threads else "") + ".json"


def entry(name: str, group: str, key_row: dict, extra_info: dict, stats_dict: dict) -> dict:
    """One benchmarks[] entry; `stats_dict` is pytest-benchmark's Metadata.as_dict()['stats']."""
    data = [float(x) for x in stats_dict["data"]]
    return {
        "name": name, "group": group,
        "extra_info": {**extra_info, "case_key": {c: key_cell(key_row.get(c)) for c in CASE_KEY},
                       "threads": key_cell(key_row.get("threads"))},
        "stats": {**{k: v for k, v in stats_dict.items() if isinstance(v, (int, float, str))}, "data": data},
    }


def read_file(path: Path) -> dict:
    """A raw file, checked: raises ResultsError naming the file and what is wrong."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ResultsError(f"{path}: not a readable raw-timings file ({e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise ResultsError(f"{path}: not a raw-timings file (no 'benchmarks' list)")
    for i, b in enumerate(doc["benchmarks"]):
        try:
            data = b["stats"]["data"]
            key = b["extra_info"]["case_key"]
            ok = isinstance(key, dict) and isinstance(data, list) and data and all(
                isinstance(x, (int, float)) and x > 0 and math.isfinite(x) for x in data
            )
        except (KeyError, TypeError):
            ok = False
        if not ok:
            raise ResultsError(
                f"{path}: benchmarks[{i}] needs extra_info.case_key and stats.data, a list of positive seconds"
            )
        sizes = b["extra_info"].get("block_rounds")
        if sizes is not None and not (
            isinstance(sizes, list) and all(isinstance(n, int) and n > 0 for n in sizes) and sum(sizes) == len(data)
        ):
            raise ResultsError(
                f"{path}: benchmarks[{i}] extra_info.block_rounds must be positive round counts adding up to "
                f"the {len(data)} rounds of stats.data, got {sizes!r}"
            )
        labels = b["extra_info"].get("block_process")
        if labels is not None and not (
            isinstance(labels, list) and all(isinstance(n, int) and n >= 0 for n in labels)
            and len(labels) == len(sizes or [len(data)])
        ):
            raise ResultsError(
                f"{path}: benchmarks[{i}] extra_info.block_process must be one process number (0, 1, ...) per "
                f"block, got {labels!r}"
            )
    return doc


class ProcessBlocks(list):
    """A case's blocks (lists of seconds per call) timed in several processes of one run
    (`python -m bench run --processes N`): `processes[i]` is the process block i was timed in
    (extra_info.block_process). Anything that takes a list of blocks takes it; the statistics read the
    labels (bench/analysis/stats.py process_estimates)."""

    def __init__(self, blocks, processes):
        super().__init__(blocks)
        self.processes = list(processes)


def blocks_of(benchmark: dict) -> list[list[float]]:
    """A read_file() entry's rounds, split into its timing blocks (ProcessBlocks when labelled by process)."""
    data = [float(x) for x in benchmark["stats"]["data"]]
    out, start = [], 0
    for n in benchmark["extra_info"].get("block_rounds") or [len(data)]:
        out.append(data[start:start + n])
        start += n
    labels = benchmark["extra_info"].get("block_process")
    if labels is not None:
        return ProcessBlocks(out, labels)
    return out


def merged(results_dir: Path, entries: list[dict], machine_info: dict, version: str = "", when: str = "") -> dict[str, dict]:
    """The raw files `entries` change, as member name -> document: each slice's file with those cases replaced.

    Every existing file of those slices is read (and checked) first; nothing is written.
    """
    by_file: dict[str, list[dict]] = {}
    for e in entries:
        by_file.setdefault(slice_member({**e["extra_info"]["case_key"], "threads": e["extra_info"]["threads"]}), []).append(e)
    docs = {}
    for name, new in by_file.items():
        path = Path(results_dir) / name
        old = read_file(path)["benchmarks"] if path.exists() else []
        new_keys = {case_key(e["extra_info"]["case_key"]) for e in new}
        kept = [e for e in old if case_key(e["extra_info"]["case_key"]) not in new_keys]
        docs[name] = {"version": version, "datetime": when, "machine_info": machine_info, "commit_info": {},
                      "benchmarks": kept + new}
    return docs


def texts(docs: dict[str, dict]) -> dict[str, str]:
    """merged()'s documents as the files' texts, for storage.write_set."""
    return {name: json_text(doc) for name, doc in docs.items()}


def save(results_dir: Path, entries: list[dict], machine_info: dict, version: str = "", when: str = "") -> list[Path]:
    """Merge `entries` into their slices' files, case by case, as one set write; returns the files written.

    A suite run writes its raw files with its CSVs instead (bench/analysis/save.py save_run).
    """
    docs = merged(results_dir, entries, machine_info, version, when)
    write_set(results_dir, texts(docs))
    return [Path(results_dir) / name for name in docs]


def rounds(docs) -> dict[tuple, list[list[float]]]:
    """Case key (bench/store/schema.py case_key) -> its rounds by block, from read_file() documents."""
    out = {}
    for doc in docs:
        for b in doc["benchmarks"]:
            key = b["extra_info"]["case_key"]
            out[case_key(key)] = blocks_of(b)
    return out


def files(results_dir: Path) -> list[Path]:
    return sorted((Path(results_dir) / RAW_DIR).glob("*.json"))


def load(results_dir: Path) -> dict[tuple, list[list[float]]]:
    """Every raw file of `results_dir`, as rounds() gives them."""
    return rounds(read_file(path) for path in files(results_dir))


def block_starts(results_dir: Path) -> dict[tuple, list[float]]:
    """Case key -> when each of its blocks started (s since its session began), for the cases that recorded it:
    which arm of a pair ran first in each block (bench/analysis/block_order.py)."""
    out = {}
    for path in files(results_dir):
        for b in read_file(path)["benchmarks"]:
            starts = b["extra_info"].get("block_started_s")
            if starts:
                out[case_key(b["extra_info"]["case_key"])] = [float(x) for x in starts]
    return out
