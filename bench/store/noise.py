"""results/noise.json: the machine's run-to-run noise, measured by `python -m bench stability`.

    {"machine": {...bench/store/machine.py fingerprint...},
     "profile": "quick", "keras_backend": "tensorflow", "threads": 1, "runs": 3, "date": "...",
     "ratio_run_var": 0.0004,   # run-to-run variance of log(keras/torch), beyond the rounds
     "time_run_var": 0.002,     # the same for log(one case's median time)
     "set": {"ratio_run_var": ..., "time_run_var": ...},  # the newest set's own estimate
     "pooled_sets": ["<runs_taken>", ...], "pooled_coverage": 0.93, ...}

The two top-level terms are the mean over every set in stability_history.csv
with the same settings (bench/commands/stability.py pooled_noise), not the
newest set's own: one set measures one hour of the host.

bench/store/results.py widens every Keras/torch interval by ratio_run_var; `bench
compare` widens its test by time_run_var (bench/analysis/stats.py). A file that does
not parse is a ValueError naming it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from .results import COMMAND_FILES
from .storage import write_json

NOISE_FILE = COMMAND_FILES["noise"]
REQUIRED = ("ratio_run_var", "time_run_var")


def load(location: Path) -> dict | None:
    """The noise model of a results directory, or None if it has none."""
    path = Path(location) / NOISE_FILE
    if not path.exists():
        return None
    try:
        model = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from e
    for field in REQUIRED:
        value = model.get(field) if isinstance(model, dict) else None
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{path}: {field} must be a non-negative number, got {value!r}")
    return model


def save(location: Path, model: dict) -> Path:
    path = Path(location) / NOISE_FILE
    write_json(path, model)
    return path
