"""`python -m bench memory`: peak memory of one train step and of one infer call, per case.

A pass of its own, never inside the timed rounds: each case runs in a fresh
process (`python -m bench.commands.memory CASE_JSON THREADS`), which builds the case's runner,
puts the batch on the device, and measures one call twice:

1. the first call (tracing, compilation, optimizer slots, lazily loaded
   kernels): `first_call_mem_bytes`;
2. one call after WARMUP_CALLS more: `peak_mem_bytes`, the memory a step
   needs once the model runs, the number to compare.

Each measurement is "peak during the call minus what the process held just
before it", so the framework's import, the model's weights, the optimizer's
state and the batch (all resident before the call, and already counted in
`baseline_bytes`) are not in it; what is in it is what the call allocates:
activations kept for backward, gradients, temporaries, the output.

How the peak is read (`mem_method`):

- CPU, `rss-hwm`: the kernel's high-water mark of the process's resident set
  (VmHWM in /proc/self/status), reset by writing 5 to /proc/self/clear_refs
  just before the call; the baseline is VmRSS at that moment. RSS sees every
  allocator (torch's, TensorFlow's, XLA's, NumPy's), which tracemalloc does
  not. Freed memory that an allocator keeps would hide the next call's
  allocations, so the heap is handed back first (gc, then glibc's
  malloc_trim). A fresh process per case keeps one case's heap from another's.
- GPU, each framework's allocator statistics (its Framework part's `memory_probe`,
  impls/memory_probes.py), reset before the call where the framework allows
  it: torch `max_memory_allocated` (Keras on torch too), TensorFlow
  `get_memory_info` peak, JAX `memory_stats` peak_bytes_in_use (which cannot
  be reset: on JAX, `peak_mem_bytes` is the largest call so far).

Writes memory.csv in the result set (this machine's by default) (one row per case; a case measured again
replaces its old row, every other row stays) and memory_comparison.csv (Keras over torch per
problem).
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from impls import ModelSpec
from impls.contract import framework_class, make_runner

from ..analysis.save import save_memory
from ..store.schema import MEMORY_COLUMNS, MEMORY_FILES
from ..store.units import mib
from ..store.validate import check_writable
from ..suite import runtime
from ..suite.backend_processes import missing_modules, parse_backends
from ..suite.cases import COMPILE_CHOICES, DEVICES, PROFILES, Case, Size, all_cases
from ..suite.harness import DATA_SEED, case_row, device_unavailable, use_full_float32
from .command_args import (
    UsageError, add_results_arguments, add_threads_argument, add_topology_argument, results_to_write, selected_topologies,
)

# ONNX Runtime's memory is not measured: its sessions allocate through ORT's own arenas, which
# this command does not yet read on a GPU (CPU RSS would see them; not yet wired up).
MEASURED_FRAMEWORKS = ("keras", "torch")

WARMUP_CALLS = 2
WORKER_PREFIX = "tdbench-memory"
WORKER_TIMEOUT_S = 600
# The default: the mid size and the ends of the full profile's batch and timesteps sweeps
# around it, three points a line (a process per case makes every point cost seconds).
DEFAULT_PROFILE = "sweeps"
MEMORY_PROFILES = (DEFAULT_PROFILE, *PROFILES)
SWEEP_LABELS = ("mid", "batch=4", "batch=256", "timesteps=10", "timesteps=200")

# --- measuring, inside the case's own process ---------------------------------------------


def _proc_status_bytes(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024  # the kernel reports kB
    raise RuntimeError(f"/proc/self/status has no {field} line")


def _give_back_heap() -> None:
    """Return freed memory to the OS, so the next call's allocations show up in RSS again."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: freed memory may stay resident and hide reuse
        pass


class RssProbe:
    """CPU: the peak resident set during a call, above the resident set just before it."""

    method = "rss-hwm"

    def __init__(self):
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        except OSError as e:
            raise RuntimeError(f"cannot reset the RSS high-water mark (/proc/self/clear_refs: {e})") from e

    def measure(self, call) -> tuple[int, int]:
        _give_back_heap()
        baseline = _proc_status_bytes("VmRSS")
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # VmHWM := VmRSS
        call()
        return _proc_status_bytes("VmHWM") - baseline, baseline


def make_probe(framework: str, device: str):
    """The process's RSS on the CPU; on a GPU, the framework's allocator (impls/memory_probes.py)."""
    return framework_class(framework).memory_probe(device) or RssProbe()


def measure_case(case: Case) -> dict:
    """Build the case's runner, put its batch, and measure the first call and a warm call."""
    reason = device_unavailable(case.framework, case.device)
    if reason:
        return dict(status=f"skipped: {reason}")
    use_full_float32(case.device)
    probe = make_probe(case.framework, case.device)
    spec, batch = case.spec, case.size.batch
    runner = make_runner(case.framework, spec, case.build_head, device=case.device, compile=case.compile == "on")
    x, y = runner.put(spec.example_inputs(batch, DATA_SEED), spec.example_targets(batch, DATA_SEED))
    call = (lambda: runner.train_step(x, y)) if case.mode == "train" else (lambda: runner.infer(x))
    first, _ = probe.measure(call)
    for _ in range(WARMUP_CALLS):
        call()
    peak, baseline = probe.measure(call)
    return dict(
        status="ok", peak_mem_bytes=peak, first_call_mem_bytes=first, baseline_bytes=baseline,
        mem_method=f"{case.device} {probe.method}", params=runner.trainable_params(),
    )


def case_to_json(case: Case) -> str:
    spec = case.spec
    return json.dumps(dict(
        label=case.size.label, batch=case.size.batch, sizes={"topology": spec.topology, **spec.sizes()},
        framework=case.framework, head=case.head, mode=case.mode, device=case.device, compile=case.compile,
    ))


def case_from_json(text: str) -> Case:
    d = json.loads(text)
    size = Size(d["label"], ModelSpec(**d["sizes"]), d["batch"])
    return Case(size, d["framework"], d["head"], d["mode"], d["device"], d["compile"])


def worker_main(argv: list[str]) -> int:
    """`python -m bench.commands.memory CASE_JSON [THREADS]`: measure one case, print one result line."""
    case = case_from_json(argv[0])
    threads = int(argv[1]) if len(argv) > 1 else runtime.available_cores()
    keras_backend = runtime.keras_backend()
    # A torch case loads torch alone: Keras and its backend would only add to the baseline.
    runtime.configure(threads, "torch" if case.framework == "torch" else keras_backend)
    runtime.apply_thread_limits(threads)
    result = measure_case(case)
    print(f"{WORKER_PREFIX} {json.dumps(result)}", flush=True)
    return 0


# --- the command: one process per case, rows merged into the result files ------------------


def measure_in_subprocess(case: Case, keras_backend: str, threads: int, timeout: float = WORKER_TIMEOUT_S) -> dict:
    """Run `case` in a fresh process; its result, or a failed status naming the last error line."""
    env = dict(os.environ, KERAS_BACKEND=keras_backend)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench.commands.memory", case_to_json(case), str(threads)],
            capture_output=True, text=True, env=env, timeout=timeout,
            cwd=Path(__file__).resolve().parents[2],
        )
    except subprocess.TimeoutExpired:
        return dict(status=f"failed: no result within {timeout:.0f} s")
    for line in done.stdout.splitlines():
        if line.startswith(WORKER_PREFIX + " "):
            return json.loads(line[len(WORKER_PREFIX) + 1:])
    errors = [l for l in done.stderr.splitlines() if l.strip()]
    return dict(status=f"failed: exit {done.returncode}: {errors[-1] if errors else 'no output'}")


def memory_cases(profile: str, compile: str, device: str, topologies) -> list[Case]:
    if profile != DEFAULT_PROFILE:
        return all_cases(profile, compile, topologies=topologies, devices=(device,), frameworks=MEASURED_FRAMEWORKS)
    cases = all_cases("full", compile, topologies=topologies, devices=(device,), frameworks=MEASURED_FRAMEWORKS)
    return [c for c in cases if c.size.label in SWEEP_LABELS]


def memory_row(case: Case, profile: str, keras_backend: str, threads: int, result: dict) -> dict:
    row = case_row(case, profile, keras_backend, threads)
    row.update(dict.fromkeys(["peak_mem_bytes", "first_call_mem_bytes", "baseline_bytes", "mem_method"]))
    row.update(result)
    return {c: row.get(c) for c in MEMORY_COLUMNS}


def add_arguments(parser) -> None:
    parser.add_argument(
        "--profile", choices=MEMORY_PROFILES, default=DEFAULT_PROFILE,
        help="cases to measure: sweeps (default: the mid size and the full profile's batch and timesteps "
        "sweeps), or a benchmark profile's cases",
    )
    parser.add_argument("--backends", default=runtime.DEFAULT_KERAS_BACKEND,
                        help=f"comma-separated Keras backends of {', '.join(runtime.KERAS_BACKENDS)} (default: %(default)s)")
    parser.add_argument("--device", choices=DEVICES, default="cpu", help="default: %(default)s")
    parser.add_argument("--compile", choices=COMPILE_CHOICES, default="off", help="default: %(default)s")
    parser.add_argument("--mode", choices=("train", "infer"), help="one mode (default: both)")
    parser.add_argument("--size", metavar="LABEL", help="one size label of the profile, e.g. mid or batch=256")
    add_topology_argument(parser)
    add_threads_argument(parser)
    add_results_arguments(parser, writes=True)  # memory.csv and memory_comparison.csv are merged there


def run(args) -> int:
    backends = parse_backends(args.backends)
    cases = memory_cases(args.profile, args.compile, args.device, selected_topologies(args))
    if args.mode:
        cases = [c for c in cases if c.mode == args.mode]
    if args.size:
        labels = sorted({c.size.label for c in cases})
        cases = [c for c in cases if c.size.label == args.size]
        if not cases:
            raise UsageError(f"--size {args.size}: no such size in this selection; sizes: {', '.join(labels)}")
    args.results_dir = results_to_write(args)
    check_writable(args.results_dir)  # a file given as --results-dir, or a read-only one: said now, not after every case
    rows, start, failed = [], time.perf_counter(), 0
    for backend in backends:
        missing = missing_modules(backend)
        if missing:
            print(f"[{backend}] skipped: {', '.join(missing)} not installed", flush=True)
            continue
        for i, case in enumerate(cases, 1):
            result = measure_in_subprocess(case, backend, args.threads)
            rows.append(memory_row(case, args.profile, backend, args.threads, result))
            failed += result["status"].startswith("failed")
            peak = result.get("peak_mem_bytes")
            shown = f"{mib(peak):9.2f} MiB" if peak is not None else result["status"]
            print(f"[{backend}] {i}/{len(cases)} {time.perf_counter() - start:6.0f} s  {case.id:55s} {shown}",
                  flush=True)
    if rows:
        save_memory(args.results_dir, rows)
        print(f"merged {len(rows)} rows into {args.results_dir}/ ({', '.join(MEMORY_FILES.values())}) "
              f"in {time.perf_counter() - start:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
