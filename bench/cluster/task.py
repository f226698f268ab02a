"""The Ray tasks: a node's facts, and one unit timed by `pytest bench/` in a subprocess of the node.

Both ask for the node's timing slot (bench/cluster/__init__.py), so neither
runs beside a timing task. A task returns what it measured as a Ray object
(rows, raw rounds, the slice's environment with the node's fingerprint): no
filesystem is shared with the driver.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import ray

from ..store import raw
from ..store.results import load_benchmarks, load_environment
from ..suite.backend_processes import BENCH_DIR, pytest_command as run_command
from ..suite.options import DEFAULT_PRECISION
from . import SLOT, scratch
from .node_facts import FACTS_PREFIX, REPO
from .units import Unit

LOG_TAIL_LINES = 30


def _in_child() -> None:
    """In the child, before exec: SIGKILL it when the Ray worker dies, and time at nice 0.

    A worker lost mid-task (killed, out of memory) must not leave its pytest timing on the node while
    Ray retries the task there. Ray starts its workers at nice 15 (RAY_worker_niceness), below Ray's
    own daemons and anything else on the node; lowering it needs the right (root, CAP_SYS_NICE or
    RLIMIT_NICE): without it the slice records the value it ran at (environment.json niceness) and
    the driver says so.
    """
    import ctypes
    import signal

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    try:
        os.setpriority(os.PRIO_PROCESS, 0, 0)
    except OSError:
        pass


def node_checkout() -> Path:
    """The checkout this node runs: where a fresh Python of the node imports bench from.

    Not this module's own path: Ray puts the driver's sys.path in front of a
    worker's, so on a node that has the driver's path too (a local cluster, or
    machines laid out alike) this module may come from the driver's checkout,
    while the node's pytest runs whatever the node itself has installed
    (its PYTHONPATH, or `pip install -e` of its checkout).
    """
    with scratch.directory("where") as elsewhere:  # no checkout on the path by cwd
        done = subprocess.run([sys.executable, "-c", "import bench, pathlib; print(pathlib.Path(bench.__file__).parents[1])"],
                              cwd=elsewhere, capture_output=True, text=True, timeout=120)
    return Path(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else REPO


def _node() -> dict:
    context = ray.get_runtime_context()
    return {"node_id": context.get_node_id(), "node_address": ray.util.get_node_ip_address()}


@ray.remote(num_cpus=0, resources={SLOT: 1}, max_retries=0)
def node_facts() -> dict:
    """This node's code, versions and fingerprint (bench/cluster/node_facts.py), from a pytest process."""
    with scratch.directory("facts") as empty:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "bench.cluster.node_facts", "-p", "no:cacheprovider",
             "-c", os.devnull, "--rootdir", empty, empty],
            cwd=node_checkout(), capture_output=True, text=True, timeout=120, preexec_fn=_in_child,
        )
    for line in done.stdout.splitlines():
        if line.startswith(FACTS_PREFIX):
            return {**json.loads(line[len(FACTS_PREFIX):]), **_node()}
    tail = (done.stdout + done.stderr).strip().splitlines()[-1:] or ["no output"]
    return {**_node(), "problem": f"its pytest could not report the node's facts (exit {done.returncode}: {tail[0]})"}


def pytest_command(unit: Unit, results_dir: str, pytest_args: list[str], blocks: int, checkout: Path = REPO,
                   precision: float = DEFAULT_PRECISION) -> list[str]:
    """`python -m bench run`'s pytest command for one backend, narrowed to the unit's problem, on `checkout`'s suite:
    the run's --blocks and --precision, and the problem's share of the run's budget (units.py budget_shares)."""
    args = argparse.Namespace(profile=unit.profile, compile=unit.compile, threads=unit.threads, blocks=blocks,
                              precision=precision, budget_share=unit.budget_share,
                              results_dir=results_dir, pytest_args=[*pytest_args, "-k", unit.k_expression()])
    command = [str(checkout / "bench") if part == str(BENCH_DIR) else part
               for part in run_command(unit.keras_backend, args)]
    if "--benchmark-disable" in pytest_args:  # the untimed path; pytest-benchmark refuses it with --benchmark-only
        command.remove("--benchmark-only")
    return command


def _collect(results_dir: Path) -> dict:
    """The rows, raw rounds and slice environment a pytest run wrote into its own results directory."""
    raw_files = [raw.read_file(p) for p in sorted((results_dir / raw.RAW_DIR).glob("*.json"))]
    return {"rows": load_benchmarks(results_dir),
            "environments": list(load_environment(results_dir)["slices"].values()),
            "raw": [{k: doc[k] for k in ("benchmarks", "machine_info", "version", "datetime")} for doc in raw_files]}


@ray.remote(num_cpus=0, resources={SLOT: 1})
def time_unit(unit: Unit, pytest_args: list[str], blocks: int, precision: float = DEFAULT_PRECISION) -> dict:
    """Run the unit's problem in `pytest bench/` on this node; return what it measured and when it ran."""
    start = time.time()
    checkout = node_checkout()
    with scratch.directory("task") as held:  # removed at the end, or by a later task if this one is killed
        results_dir = held / "results"  # not the held directory itself: its pytest takes its own lock there
        results_dir.mkdir()
        command = pytest_command(unit, str(results_dir), pytest_args, blocks, checkout, precision)
        began = time.perf_counter()
        done = subprocess.run(command, cwd=checkout, env=dict(os.environ, KERAS_BACKEND=unit.keras_backend),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=_in_child)
        pytest_s = time.perf_counter() - began
        measured = _collect(results_dir) if done.returncode in (0, 1) else {"rows": [], "environments": [], "raw": []}
    return {**measured, **_node(), "unit": unit, "returncode": done.returncode, "start": start, "end": time.time(),
            "pytest_s": pytest_s, "log_tail": "\n".join(done.stdout.splitlines()[-LOG_TAIL_LINES:])}
