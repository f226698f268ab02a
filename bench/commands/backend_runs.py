"""`python -m bench run`: the benchmark suite once per Keras backend, each in its own process.

Keras picks its backend once per process, so each backend gets a fresh
`pytest bench/ --benchmark-only` with KERAS_BACKEND set. Each run merges its
own slice into the results directory (bench/store/results.py); this command only
sequences them, relays progress, and says which backend failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .command_args import UsageError
from ..cluster import add_cluster_arguments
from ..suite.options import PROGRESS_PREFIX, add_argparse_options
from ..store.machine import OtherMachine, check_same_machine
from ..suite.runtime import KERAS_BACKENDS, available_cores
from ..store.validate import ResultsError, check_results_dir

BENCH_DIR = Path(__file__).resolve().parent.parent
# What each backend needs importable (found without importing it).
BACKEND_MODULES = {"tensorflow": ("tensorflow",), "jax": ("jax", "jaxlib"), "torch": ("torch",)}


def parse_backends(value: str) -> list[str]:
    names = [b.strip() for b in value.split(",") if b.strip()]
    bad = [b for b in names if b not in KERAS_BACKENDS]
    if bad or not names:
        raise UsageError(
            f"--backends takes a comma-separated list of {', '.join(KERAS_BACKENDS)}; got {value!r}"
        )
    return list(dict.fromkeys(names))


def missing_modules(backend: str) -> list[str]:
    return [m for m in BACKEND_MODULES[backend] if importlib.util.find_spec(m) is None]


def add_run_arguments(parser, default_profile: str, default_compile: str) -> None:
    parser.add_argument(
        "--backends", default=",".join(KERAS_BACKENDS),
        help="comma-separated Keras backends (default: %(default)s; missing ones are skipped)",
    )
    add_argparse_options(parser, ("--profile", "--compile", "--blocks", "--results-dir", "--threads"))
    add_cluster_arguments(parser)
    parser.set_defaults(profile=default_profile, compile=default_compile)
    parser.add_argument("pytest_args", nargs="*", help="passed on to pytest after --, e.g. -- -k attention")


def add_arguments(parser) -> None:
    add_run_arguments(parser, default_profile="quick", default_compile="both")


def pytest_command(backend: str, args) -> list[str]:
    return [
        sys.executable, "-m", "pytest", str(BENCH_DIR), "--benchmark-only", "-p", "no:cacheprovider",
        "--tdbench-progress", "--keras-backend", backend, "--profile", args.profile,
        "--compile", args.compile, "--threads", str(args.threads), "--blocks", str(args.blocks),
        "--results-dir", str(Path(args.results_dir).resolve()), *args.pytest_args,
    ]


def run_backend(backend: str, args, log_path: Path) -> int:
    """Run one backend's suite; relay its progress lines; keep its full output in `log_path`."""
    start = time.perf_counter()
    env = dict(os.environ, KERAS_BACKEND=backend)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log, subprocess.Popen(
        pytest_command(backend, args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env=env, bufsize=1,
    ) as child:
        try:
            for line in child.stdout:
                log.write(line)
                if line.startswith(PROGRESS_PREFIX):
                    _, done, total, outcome, case_id = line.split(maxsplit=4)
                    elapsed = time.perf_counter() - start
                    print(f"[{backend}] case {done} of {total}  {elapsed:6.0f} s  {outcome:7s} {case_id.strip()}", flush=True)
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


def thread_counts(args) -> list[int]:
    """The full profile sweeps threads 1 .. cores (plus --threads); others run at --threads.

    Threads are fixed per process, so each count is its own pytest process and its own slice.
    """
    if args.profile == "full":
        return sorted({args.threads, *range(1, available_cores() + 1)})
    return [args.threads]


def run_backends(args) -> int:
    if getattr(args, "cluster", None):  # the same work on a Ray cluster, a problem per task (bench/cluster/)
        from ..cluster.driver import run_on_cluster

        return run_on_cluster(args)
    backends = parse_backends(args.backends)
    # The result files on record are checked before hours of timing, not after (bench/store/validate.py),
    # and so is the machine they were measured on (bench/store/machine.py).
    try:
        check_results_dir(args.results_dir, writing=True)
        check_same_machine(Path(args.results_dir))
    except (ResultsError, OtherMachine) as e:
        raise UsageError(str(e)) from None
    counts = thread_counts(args)
    if len(counts) == 1:
        return _run_backends(args, backends)
    status = 0
    for n in counts:
        print(f"--- {n} thread(s) ---", flush=True)
        status = max(status, _run_backends(argparse.Namespace(**{**vars(args), "threads": n}), backends))
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
        rc = run_backend(backend, args, log_path)
        took = time.perf_counter() - start
        outcomes[backend] = f"ok ({took:.0f} s)" if rc == 0 else f"FAILED (pytest exit {rc}; see {log_path})"
        if rc != 0:
            print(_tail(log_path), flush=True)
    print("\n".join(f"{b}: {o}" for b, o in outcomes.items()))
    failed = [b for b, o in outcomes.items() if o.startswith("FAILED")]
    if failed:
        print(f"failed backend(s): {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _tail(path: Path, lines: int = 25) -> str:
    return "".join(path.read_text().splitlines(keepends=True)[-lines:])


def run(args) -> int:
    return run_backends(args)
