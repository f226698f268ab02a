"""`python -m bench reanalyse [--results-dir DIR | --machine NAME]`: a result set's derived tables again.

comparison.csv, td_tax.csv and onnx.csv are derived from benchmarks.csv and
the raw rounds (bench/analysis/save.py); when the analysis changes (a new
measurement method, bench/store/schema.py MEASUREMENT_METHOD), this writes
them again from the same measurements, under the set's lock, with the set's
noise.json applied where it was measured on that kind of slice and method
(bench/store/noise.py applies_to). It prints how many ratios moved and how
many intervals changed. Nothing measured changes.
"""

from __future__ import annotations

from ..analysis.save import save_run
from ..store.files import read_csv
from ..store.schema import FILES
from .command_args import UsageError, add_results_arguments, results_to_read


def add_arguments(parser) -> None:
    add_results_arguments(parser)


def _by_pair(rows: list[dict]) -> dict:
    key = ("keras_backend", "device", "profile", "compile", "threads", "topology", "mode", "size", "keras_head", "torch_head")
    return {tuple(r.get(c, "") for c in key): r for r in rows}


def run(args) -> int:
    results_dir = results_to_read(args)
    path = results_dir / FILES["comparison"]
    before = _by_pair(read_csv(path)) if path.exists() else {}
    try:
        save_run(results_dir, [], {})  # no new rows: every derived file written again
    except ValueError as e:
        raise UsageError(str(e)) from e
    after = _by_pair(read_csv(path)) if path.exists() else {}
    moved = sum(1 for k, r in after.items() if k in before and r["keras_over_torch"] != before[k]["keras_over_torch"])
    widened = sum(1 for k, r in after.items() if k in before
                  and (r.get("ci_low"), r.get("ci_high")) != (before[k].get("ci_low"), before[k].get("ci_high")))
    print(f"{results_dir}/: derived tables written again from benchmarks.csv and raw/; of {len(after)} Keras/torch "
          f"ratios, {moved} moved and {widened} interval(s) changed")
    return 0
