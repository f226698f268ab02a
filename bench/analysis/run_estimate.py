"""How long a `python -m bench run` will take, from the runs on record, said before it starts.

Each timed pytest process records in its slices' environment.json entries
`run`: the --compile choice it ran, its wall time, and how many of its
profile's steps (preparations and blocks) it ran. A planned run is estimated
from this machine's own earlier runs of the same slices, scaled to the whole
profile; where this machine has none, from the reference machine's, and it
says so; where neither has one, it says it cannot tell yet.
"""

from __future__ import annotations

import json
from pathlib import Path

from .processes import AUTO, AUTO_MIN_PROCESSES

ENVIRONMENT = "environment.json"
# A run of less of the profile than this is not scaled up: a process's start-up, references and peak GEMM
# do not shrink with its share, so one cluster task (one problem of 20) would predict several times the time.
MIN_SHARE = 0.25


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _runs(results_dir: Path | None) -> list[tuple[str, dict]]:
    """(slice name, its `run` record) of every slice of `results_dir` that has one."""
    if results_dir is None or not (Path(results_dir) / ENVIRONMENT).is_file():
        return []
    try:
        slices = json.loads((Path(results_dir) / ENVIRONMENT).read_text())["slices"]
    except (ValueError, KeyError, TypeError, OSError):
        return []  # the validator names the file's problem when the run reads it
    return [(name, env["run"]) for name, env in slices.items()
            if isinstance(env, dict) and isinstance(env.get("run"), dict)]


def _process_seconds(runs, backend: str, profile: str, compile: str, threads: int) -> float | None:
    """Wall seconds of one pytest process of this slice, scaled up from a partial (-k) run of at least
    MIN_SHARE of the profile's steps."""
    for name, run in runs:
        fields = dict(part.split("=", 1) for part in name.split() if "=" in part)
        if (fields.get("keras_backend"), fields.get("profile"), fields.get("threads"), run.get("compile")) == (
                backend, profile, str(threads), compile):
            try:
                wall, steps, total = float(run["wall_s"]), int(run["steps"]), int(run["profile_steps"])
            except (KeyError, TypeError, ValueError):
                continue
            if wall > 0 and MIN_SHARE * total <= steps <= total:
                return wall * total / steps
    return None


def estimate(results_dir: Path | None, backends, profile: str, compile: str, thread_counts) -> float | None:
    """Seconds for every (backend, threads) process of the plan, or None if one has no record in `results_dir`."""
    runs = _runs(results_dir)
    seconds = [_process_seconds(runs, b, profile, compile, n) for b in backends for n in thread_counts]
    return None if not seconds or None in seconds else sum(seconds)


def expected(results_dir: Path, reference_dir: Path | None, backends, profile: str, compile: str, thread_counts,
             processes: int | str = 1) -> str:
    """The line printed before a run starts (`processes`: each slice timed that many times, --processes;
    AUTO: at least AUTO_MIN_PROCESSES times)."""
    plan = f"{len(backends)} backend(s) ({', '.join(backends) or 'none installed'}), {profile} profile, compile {compile}"
    auto = processes == AUTO
    count = AUTO_MIN_PROCESSES if auto else processes
    about = "at least" if auto else "about"
    if count > 1:
        plan += f", {'at least ' if auto else ''}{count} processes each"
    mine = estimate(results_dir, backends, profile, compile, thread_counts)
    mine = None if mine is None else mine * count
    if mine is not None:
        return f"{plan}: expected {about} {minutes(mine)}, from this machine's earlier runs"
    theirs = estimate(reference_dir, backends, profile, compile, thread_counts)
    theirs = None if theirs is None else theirs * count
    if theirs is not None:
        return (f"{plan}: {about} {minutes(theirs)} on the reference machine ({Path(reference_dir).name}); an estimate "
                "only, this machine has no run of these slices yet")
    return f"{plan}: no earlier run of these slices here or on the reference machine, so no estimate yet"
