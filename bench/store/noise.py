"""results/noise.json: the machine's run-to-run noise, measured by `python -m bench stability`.

    {"machine": {...bench/store/machine.py fingerprint...},
     "profile": "quick", "keras_backend": "tensorflow", "threads": 1, "runs": 3, "date": "...",
     "ratio_run_var": 0.0004,   # run-to-run variance of log(keras/torch), beyond the rounds
     "time_run_var": 0.002,     # the same for log(one case's median time)
     "ratio_set_var": 0.0003,   # variance of log(keras/torch) between sets, beyond their runs
     "set": {"ratio_run_var": ..., "time_run_var": ...},  # the newest set's own estimate
     "pairs": [{<schema.PAIR_KEY>..., "run_var": 0.0002, "df": 4}, ...],  # each pair's own, shrunk
     "pair_prior": {"var": ..., "df": ..., "pairs": 56},  # the prior they were shrunk toward
     "pooled_sets": ["<runs_taken>", ...], "pooled_coverage": 0.93, ...}

The two run-to-run terms are the mean over every set in stability_history.csv
with the same settings (bench/commands/stability.py pooled_noise), not the
newest set's own: one set measures one hour of the host. The between-set
term compares those sets with each other (stability_sets.csv,
bench/commands/stability.py between_set_var): runs of one set are taken back
to back, and a rerun an hour later moves a ratio further than they show.

"pairs" holds each Keras/torch pair's own run-to-run variance, shrunk toward
the pool (bench/analysis/pair_noise.py, fitted to every set in
stability_sets.csv with the same settings). bench/analysis/derived.py widens
a pair's interval by its own term, else by ratio_run_var, plus ratio_set_var;
`bench compare` widens its test by
time_run_var (bench/analysis/stats.py). A file that does not parse is a
ResultsError naming it (one line, exit 2 in the commands).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from .files import ResultsError, write_json
from .schema import COMMAND_FILES, MEASUREMENT_METHOD, METHOD_BEFORE_RECORDED, SLICE_COLUMNS, pair_key

NOISE_FILE = COMMAND_FILES["noise"]
REQUIRED = ("ratio_run_var", "time_run_var")
OPTIONAL = ("ratio_set_var",)  # absent in files written before it was measured: 0


def load(location: Path) -> dict | None:
    """The noise model of a results directory, or None if it has none."""
    path = Path(location) / NOISE_FILE
    if not path.exists():
        return None
    try:
        model = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ResultsError(f"{path}: not valid JSON ({e})") from None
    for field in REQUIRED + OPTIONAL:
        value = model.get(field) if isinstance(model, dict) else None
        if field in OPTIONAL and value is None:
            continue
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ResultsError(f"{path}: {field} must be a non-negative number, got {value!r}")
    try:
        pair_vars(model)
    except ValueError as e:
        raise ResultsError(f"{path}: {e}") from None
    return model


def set_sd_text(model: dict) -> str:
    """The between-set term as the summaries write it: its sd and how many sets it compared."""
    compared = model.get("sets_compared") or []
    if len(compared) < 2:
        return "not measured yet (one set with these settings)"
    return f"{math.sqrt(model['ratio_set_var']):.4f} ({len(compared)} sets compared)"


def rerun_ratio_var(model: dict) -> float:
    """The variance a rerun adds to log(keras/torch) beyond the run's own: run-to-run plus between sets."""
    return model["ratio_run_var"] + (model.get("ratio_set_var") or 0.0)


def pair_rerun_vars(model: dict) -> dict[tuple, float]:
    """pair key -> the variance a rerun adds to that pair's log ratio: its own run-to-run term (pair_vars)
    plus between sets. Pairs without their own take rerun_ratio_var."""
    return {key: var + (model.get("ratio_set_var") or 0.0) for key, var in pair_vars(model).items()}


def applies_to(model: dict, slice_name: str, slice_env: dict) -> bool:
    """Whether `model` was measured on this kind of slice: the same Keras backend, compile setting,
    threads, profile and device (a model from before device was recorded was measured on the CPU), and
    both the model and the slice under the current measurement method (schema.MEASUREMENT_METHOD): a
    model fitted under an older method's analysis says nothing of the current one's variances. Noise is
    never borrowed from another kind."""
    key = dict(part.split("=", 1) for part in slice_name.split() if "=" in part)
    same = all(str(model.get(c)) == key.get(c) for c in ("keras_backend", "compile", "threads", "profile"))
    methods = {str(model.get("method", METHOD_BEFORE_RECORDED)), str(slice_env.get("method", METHOD_BEFORE_RECORDED))}
    return same and key.get("device") == str(model.get("device", "cpu")) and methods == {str(MEASUREMENT_METHOD)}


def pair_vars(model: dict) -> dict[tuple, float]:
    """pair key (schema.pair_key) -> that pair's own run-to-run variance, shrunk toward the pool
    (bench/analysis/pair_noise.py); empty in a model written before pairs had their own."""
    pairs = model.get("pairs") or []
    try:
        out = {pair_key(p): float(p["run_var"]) for p in pairs}
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ValueError("pairs must be a list of objects, each with its pair's key and run_var") from None
    if not all(math.isfinite(v) and v >= 0 for v in out.values()):
        raise ValueError("each pair's run_var must be a non-negative number")
    return out


def run_vars(model: dict | None, environment: dict) -> dict[tuple, dict]:
    """slice key (schema.slice_of) -> {"run": the pool's run-to-run variance, "set": between-set variance of
    a log ratio, "pairs": pair key -> that pair's own run-to-run variance} to add to its intervals, for the
    slices of `environment` (environment.json) that `model` applies to; the others have none. A pair not in
    "pairs" takes "run". A run of several processes measured its own run-to-run term and adds "set" alone."""
    if model is None:
        return {}
    terms = {"run": model["ratio_run_var"], "set": model.get("ratio_set_var") or 0.0, "pairs": pair_vars(model)}
    return {tuple(dict(part.split("=", 1) for part in name.split())[c] for c in SLICE_COLUMNS): terms
            for name, env in (environment.get("slices") or {}).items() if applies_to(model, name, env or {})}


def save(location: Path, model: dict) -> Path:
    path = Path(location) / NOISE_FILE
    write_json(path, model)
    return path
