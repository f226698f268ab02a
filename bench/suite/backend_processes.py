"""The benchmark suite once per Keras backend, each in its own process, with a progress bar.

Keras picks its backend once per process, so each backend gets a fresh
`pytest bench/ --benchmark-only` with KERAS_BACKEND set. Each run merges its
own slice into the result set (bench/store/layout.py); this module only
sequences them, shows a progress bar with the time left, says which backend
failed, and ends with this machine's answer beside the reference machine's.
`python -m bench run` and `td-tax` (bench/commands/run.py, td_tax.py) run it,
and `bench stability` times one backend at a time through run_backend.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from ..analysis import run_estimate
from ..analysis.processes import (
    AUTO, AUTO_MAX_PROCESSES, AUTO_MIN_PROCESSES, DEFAULT_AUTO_BUDGET_MIN, combine, pair_precisions, progress_line,
    stop_reason,
)
from ..analysis.save import save_run
from ..analysis.result_tables import answer_beside_reference
from ..store import layout, lock
from ..store.machine import OtherMachine, check_same_machine
from ..store.validate import ResultsError, check_results_dir
from .options import DEFAULT_PRECISION, PROGRESS_PREFIX, UsageError
from .runtime import KERAS_BACKENDS, available_cores

BENCH_DIR = Path(__file__).resolve().parent.parent
# What each backend needs importable (found without importing it).
BACKEND_MODULES = {"tensorflow": ("tensorflow",), "jax": ("jax", "jaxlib"), "torch": ("torch",)}


def parse_backends(value: str) -> list[str]:
    if value.strip() == "all":
        return list(KERAS_BACKENDS)
    names = [b.strip() for b in value.split(",") if b.strip()]
    bad = [b for b in names if b not in KERAS_BACKENDS]
    if bad or not names:
        raise UsageError(
            f"--backends takes 'all' or a comma-separated list of {', '.join(KERAS_BACKENDS)}; got {value!r}"
        )
    return list(dict.fromkeys(names))


def missing_modules(backend: str) -> list[str]:
    return [m for m in BACKEND_MODULES[backend] if importlib.util.find_spec(m) is None]


def pytest_command(backend: str, args) -> list[str]:
    return [
        sys.executable, "-m", "pytest", str(BENCH_DIR), "--benchmark-only", "-p", "no:cacheprovider",
        "--tdbench-progress", "--keras-backend", backend, "--profile", args.profile,
        "--compile", args.compile, "--threads", str(args.threads), "--blocks", str(args.blocks),
        "--precision", str(getattr(args, "precision", DEFAULT_PRECISION)),
        *(["--budget-share", str(args.budget_share)] if getattr(args, "budget_share", 1.0) != 1.0 else []),
        "--results-dir", str(Path(args.results_dir).resolve()),
        *(["--compile-cache", str(Path(args.compile_cache).resolve())] if getattr(args, "compile_cache", None) else []),
        *args.pytest_args,
    ]


@contextmanager
def _sigterm_as_ctrl_c():
    """SIGTERM (kill, a CI timeout) handled as Ctrl-C: by default it would end this process alone
    and leave its pytest child running on, with nobody reading its output."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_backend(backend: str, args, log_path: Path) -> int:
    """Run one backend's suite with a progress bar (steps done, time left); keep its full output in `log_path`."""
    from tqdm import tqdm  # a dependency of the suite, loaded by the one command that draws a bar

    env = dict(os.environ, KERAS_BACKEND=backend)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with _sigterm_as_ctrl_c(), open(log_path, "w") as log, subprocess.Popen(
        pytest_command(backend, args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env=env, bufsize=1,
    ) as child, tqdm(desc=f"{backend}, compile {args.compile}", unit="step", dynamic_ncols=True,
                     bar_format="{desc}: {percentage:3.0f}%|{bar}| {n}/{total} steps [{elapsed}<{remaining}] {postfix}") as bar:
        try:
            for line in child.stdout:
                log.write(line)
                if line.startswith(PROGRESS_PREFIX):
                    _, done, total, outcome, case_id = line.split(maxsplit=4)
                    bar.total = int(total)
                    bar.update(int(done) - bar.n)
                    bar.set_postfix_str(case_id.strip() if outcome == "passed" else f"{outcome}: {case_id.strip()}")
        except KeyboardInterrupt:
            # A SIGINT sent to this process alone would let pytest finish and save: pass it on,
            # and return only once pytest has stopped (an interrupted session saves nothing).
            child.send_signal(signal.SIGINT)
            try:
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            raise
    return child.returncode


def run_processes(backend: str, args, log_path: Path, processes) -> int:
    """The slice timed in `processes` pytest processes one after another (an int, or AUTO: as many as
    bench/analysis/processes.py stop_reason asks for), each into a directory of its own, then combined into
    args.results_dir as one run (bench/analysis/processes.py). A process that fails stops the run, and
    nothing is merged."""
    auto = processes == AUTO
    budget_s = getattr(args, "auto_budget", DEFAULT_AUTO_BUDGET_MIN) * 60
    target = getattr(args, "precision", DEFAULT_PRECISION)
    began, longest_s, reason = time.perf_counter(), 0.0, None
    with tempfile.TemporaryDirectory(prefix="tdbench-processes-") as scratch:
        directories = []
        for i in range(AUTO_MAX_PROCESSES if auto else processes):
            directory = Path(scratch) / f"process-{i + 1}"
            print(f"[{backend}] process {i + 1}" + ("" if auto else f" of {processes}"), flush=True)
            one = argparse.Namespace(**{**vars(args), "results_dir": str(directory)})
            started = time.perf_counter()
            rc = run_backend(backend, one, log_path.with_name(f"{log_path.stem}-process{i + 1}{log_path.suffix}"))
            if rc != 0:
                return rc
            longest_s = max(longest_s, time.perf_counter() - started)
            directories.append(directory)
            if auto and len(directories) >= AUTO_MIN_PROCESSES:
                rows, entries, _ = combine(directories)
                precisions = pair_precisions(rows, entries)
                reason = stop_reason(precisions, target, len(directories), time.perf_counter() - began, longest_s, budget_s)
                print(f"[{backend}] {progress_line(precisions, target, len(directories), reason)}", flush=True)
                if reason:
                    break
        rows, entries, environment = combine(directories)
        if auto:
            environment["processes_chosen"] = f"auto: {reason}"
        save_run(Path(args.results_dir), rows, environment, entries, environment.get("versions", {}).get("pytest-benchmark", ""))
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text("".join(p.read_text(errors="replace") for p in sorted(
        log_path.parent.glob(f"{log_path.stem}-process*{log_path.suffix}"))))
    return 0


def thread_counts(args) -> list[int]:
    """The full profile sweeps threads 1 .. cores (plus --threads); others run at --threads.

    Threads are fixed per process, so each count is its own pytest process and its own slice.
    """
    if args.profile == "full":
        return sorted({args.threads, *range(1, available_cores() + 1)})
    return [args.threads]


def run_backends(args) -> int:
    """Every backend of args.backends into args.results_dir (chosen by the caller), at each thread count."""
    backends = parse_backends(args.backends)
    # The result files on record are checked before hours of timing, not after (bench/store/validate.py),
    # and so is the machine they were measured on (bench/store/machine.py).
    try:
        with lock.held(args.results_dir):  # another run writing there: said now, naming it (bench/store/lock.py)
            check_results_dir(args.results_dir, writing=True)
        check_same_machine(Path(args.results_dir))
    except (ResultsError, OtherMachine) as e:
        raise UsageError(str(e)) from None
    counts = thread_counts(args)
    installed = [b for b in backends if not missing_modules(b)]
    processes = getattr(args, "processes", 1) or 1
    print(run_estimate.expected(args.results_dir, layout.reference_dir(), installed, args.profile, args.compile, counts,
                                processes), flush=True)
    start = time.perf_counter()
    status = 0
    for n in counts:
        if len(counts) > 1:
            print(f"--- {n} thread(s) ---", flush=True)
        status = max(status, _run_backends(argparse.Namespace(**{**vars(args), "threads": n}), backends))
    print(f"took {run_estimate.minutes(time.perf_counter() - start)} in all", flush=True)
    if status == 0:
        print(answer_beside_reference(args.results_dir, layout.reference_dir(), args.profile), end="", flush=True)
    return status


def _run_backends(args, backends) -> int:
    outcomes = {}
    try:
        return _run_each(backends, args, outcomes)
    except KeyboardInterrupt:
        saved = [b for b, o in outcomes.items() if o.startswith("ok")]
        print(
            f"interrupted: the backend running saved nothing; {', '.join(saved) or 'no backend'} had saved "
            f"into {args.results_dir}/ before",
            file=sys.stderr,
        )
        return 2


def _run_each(backends: list[str], args, outcomes: dict) -> int:
    for backend in backends:
        missing = missing_modules(backend)
        if missing:
            outcomes[backend] = f"skipped: {', '.join(missing)} not installed"
            print(f"[{backend}] {outcomes[backend]}", flush=True)
            continue
        log_path = Path(args.results_dir) / "logs" / f"{args.profile}-{backend}-compile-{args.compile}-t{args.threads}.log"
        start = time.perf_counter()
        processes = getattr(args, "processes", 1) or 1
        rc = run_backend(backend, args, log_path) if processes == 1 else run_processes(backend, args, log_path, processes)
        took = time.perf_counter() - start
        outcomes[backend] = f"ok ({took:.0f} s){_time_line(log_path)}" if rc == 0 else f"FAILED (pytest exit {rc}; see {log_path})"
        if rc != 0:
            print(_tail(log_path), flush=True)
    print("\n".join(f"{b}: {o}" for b, o in outcomes.items()))
    failed = [b for b, o in outcomes.items() if o.startswith("FAILED")]
    if failed:
        print(f"failed backend(s): {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _time_line(log_path: Path) -> str:
    """The session's own account of its time and precision ("time: ... s, N% of it in timed rounds; ...",
    bench/suite/phases.py; "precision: ...", bench/analysis/precision_budget.py), as lines after the
    backend's outcome, or ""."""
    if not log_path.exists():
        return ""
    lines = [line for line in log_path.read_text(errors="replace").splitlines()
             if line.startswith(("time: ", "precision: ", "case times: "))]
    return "".join(f"\n  {line}" for line in lines)  # one set per process (--processes: their logs in turn)


def _tail(path: Path, lines: int = 25) -> str:
    return "".join(path.read_text().splitlines(keepends=True)[-lines:])
