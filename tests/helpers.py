"""Helpers the test modules share (fixtures live in conftest.py)."""

from bench.suite.cases import all_cases
from bench.store.schema import BENCHMARK_COLUMNS

# What each framework's row names as its compiler without compile (a label, not checked here).
_COMPILERS = {"keras": "tf.function", "torch": "eager"}


def case_of(case_id: str, compile: str = "off"):
    """The seed profile's CPU case with this id (bench/suite/cases.py is the one registry)."""
    (case,) = [c for c in all_cases("seed", compile, devices=("cpu",)) if c.id == case_id]
    return case


def benchmark_row(framework="keras", head="timedistributed", median=0.002, keras_backend="tensorflow", **fields) -> dict:
    """One benchmarks.csv row, every column present: a timed many_to_many train case on the CPU
    (quick profile, mid size, one thread) unless `fields` say otherwise; unset columns are None."""
    row = dict.fromkeys(BENCHMARK_COLUMNS)
    row.update(
        topology="many_to_many", framework=framework, head=head, mode="train", device="cpu",
        keras_backend=keras_backend, backend=keras_backend if framework == "keras" else framework,
        profile="quick", compile="off", threads=1, size="mid", batch=32, timesteps=50, features=16,
        units=64, outputs=1, params=146, median_s=median, spread=0.05, status="ok",
        max_abs_diff=1e-8, compiler=_COMPILERS.get(framework, framework), kernel="k",
    )
    row.update(fields)
    return row


def raw_entry(median=0.123, **fields) -> dict:
    """The raw rounds (bench/store/raw.py entry) of benchmark_row(**fields): one block of two rounds of `median`."""
    from bench.store import raw

    return raw.entry("case", "group", benchmark_row(median=median, **fields), {"block_rounds": [2]},
                     {"data": [median, median]})


# `bench run` with a stand-in for pytest: a child that prints one progress line, then runs until told to stop.
INTERRUPTED_RUN = """
import signal, sys
from bench.suite import backend_processes
from bench.cli import main
# As from a terminal: a process started in the background (CI may be) inherits SIGINT ignored.
signal.signal(signal.SIGINT, signal.default_int_handler)
backend_processes.pytest_command = lambda backend, args: [
    sys.executable, "-c", "import signal, time; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "print('tdbench-progress 1 9 passed x', flush=True); time.sleep(60)"]
sys.exit(main(["run", "--backends", "torch", "--results-dir", sys.argv[1]]))
"""


def interrupt_bench_run(results_dir, signum, cwd) -> tuple[int, list[str], float]:
    """(exit status, lines said after the progress bar, seconds from the signal to the exit) of a `bench run`
    sent `signum` (to that process alone, as `kill` would) once its bar shows the child's first step."""
    import subprocess
    import sys
    import time

    child = subprocess.Popen([sys.executable, "-c", INTERRUPTED_RUN, str(results_dir)], cwd=cwd,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout.readline().startswith("1 backend(s) (torch)")  # the expected duration, before it starts
    bar = ""
    while "1/9 steps" not in bar and len(bar) < 10_000:  # the progress bar (stderr) has the child's line
        bar += child.stderr.read(1)
    start = time.monotonic()
    child.send_signal(signum)
    _, err = child.communicate(timeout=60)
    return child.returncode, err.rsplit("\r", 1)[-1].strip().splitlines()[1:], time.monotonic() - start
