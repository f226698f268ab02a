"""Process set-up that must happen before any framework is imported.

Thread counts and the Keras backend are read by TensorFlow, torch, JAX and
Keras when they load, so both are fixed here first, for every entry point
(pytest's conftest and `python -m bench`), and recorded.
"""

from __future__ import annotations

import os
import sys

from impls.contract import framework_classes

KERAS_BACKENDS = ("tensorflow", "jax", "torch")
DEFAULT_KERAS_BACKEND = "tensorflow"  # Keras's own default, when KERAS_BACKEND is not set
FRAMEWORK_MODULES = ("torch", "tensorflow", "keras", "jax")
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false"


def available_cores() -> int:
    """CPUs this process may use (before pin_cpus narrowed them, where it did)."""
    if os.environ.get(CORES_ENV):
        return int(os.environ[CORES_ENV])
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def max_threads() -> int:
    """The most threads `--threads` takes: the machine's CPU count (beyond it, pools fail to start or fight)."""
    return os.cpu_count() or available_cores()


def parse_positive(flag: str, value) -> int:
    """A positive integer written as one ("2", not "2.0"); raises ValueError naming `flag`."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if n < 1 or str(value).strip() != str(n):
        raise ValueError(f"{flag} must be a positive integer, got {value!r}")
    return n


def parse_threads(value) -> int:
    """`--threads`: a positive integer up to max_threads(); raises ValueError naming the option."""
    n = parse_positive("--threads", value)
    if n > max_threads():
        raise ValueError(f"--threads must be at most {max_threads()}, the CPUs of this machine; got {n}")
    return n


def parse_backend(value, source: str = "Keras backend") -> str:
    if value not in KERAS_BACKENDS:
        raise ValueError(f"{source} must be one of {', '.join(KERAS_BACKENDS)}; got {value!r}")
    return value


def configure(threads: int, keras_backend: str | None = None) -> None:
    """Fix threads and the Keras backend for this process. Call before importing a framework."""
    loaded = [m for m in FRAMEWORK_MODULES if m in sys.modules]
    if loaded:
        raise RuntimeError(
            f"{', '.join(loaded)} already imported: threads and the Keras backend must be "
            "set before any framework loads"
        )
    for var in THREAD_ENV:
        os.environ[var] = str(threads)
    if threads == 1:
        # XLA:CPU (JAX) can only be told "one thread" or "all cores".
        os.environ["XLA_FLAGS"] = (
            os.environ.get("XLA_FLAGS", "") + " " + XLA_ONE_THREAD
        ).strip()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
    # torch.compile would reuse compiled graphs kept on disk by earlier runs and cases;
    # without those caches first_call_s is the cold compile a first run pays, every run.
    os.environ["TORCHINDUCTOR_FX_GRAPH_CACHE"] = "0"
    os.environ["TORCHINDUCTOR_AUTOGRAD_CACHE"] = "0"
    os.environ.pop(COMPILE_CACHE_ENV, None)  # a parent's --compile-cache is not this process's: use_compile_caches
    if keras_backend is not None:
        os.environ["KERAS_BACKEND"] = parse_backend(keras_backend)
    for framework in framework_classes():  # imports no framework; ONNX Runtime sizes its sessions by it
        framework.configure_threads(threads)


COMPILE_CACHE_ENV = "TDBENCH_COMPILE_CACHE"


def use_compile_caches(directory) -> dict:
    """Every runtime's persistent compile cache in `directory` (--compile-cache); call after configure,
    before any framework loads. {runtime: the settings it made}, also kept for environment.json."""
    os.environ[COMPILE_CACHE_ENV] = str(directory)
    return {framework.framework: framework.use_compile_cache(str(directory)) for framework in framework_classes()}


def compile_cache_dir() -> str | None:
    """This process's --compile-cache directory, or None (off, the default)."""
    return os.environ.get(COMPILE_CACHE_ENV) or None


PINNED_ENV = "TDBENCH_PINNED_CPUS"
CORES_ENV = "TDBENCH_CORES_AVAILABLE"


def pin_cpus(threads: int) -> list[int] | None:
    """Keep this process, and every thread it starts, on `threads` CPUs when it may use more.

    Why: at one thread per framework, TensorFlow computes on a pool thread and
    torch on the Python thread. Left to the scheduler, the two land on
    different vCPUs, and on these VMs one vCPU can run 20-30% slower than the
    other for seconds or a whole process (a busy hyperthread sibling or host
    neighbour): that difference then lands in the Keras/torch ratio. On the
    same CPUs both arms meet the same machine. Only one framework computes at a
    time, so nothing runs slower for it. The last CPUs are taken (CPU 0 serves
    more interrupts). Call before any framework starts its threads; returns the
    CPUs, or None where nothing was pinned.
    """
    for var in (PINNED_ENV, CORES_ENV):  # a parent's pinning is not this process's record
        os.environ.pop(var, None)
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return None
    if threads >= len(allowed):
        return None
    chosen = allowed[-threads:]
    os.sched_setaffinity(0, chosen)
    os.environ[PINNED_ENV] = ",".join(map(str, chosen))
    os.environ[CORES_ENV] = str(len(allowed))  # what the process could use before (environment.json)
    return chosen


MALLOC_ENV = "TDBENCH_MALLOC"
# glibc's mallopt parameters (malloc.h) and the values the suite fixes.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 * 2**20  # glibc's largest (DEFAULT_MMAP_THRESHOLD_MAX on 64-bit)
TRIM_THRESHOLD = 512 * 2**20  # free heap kept, not handed back: a step's tensors stay mapped


def fix_malloc() -> dict | None:
    """Fix glibc malloc's mmap and trim thresholds for this process; what was set, or None.

    Why: by default glibc serves a block above its mmap threshold with fresh
    pages and moves that threshold up each time such a block is freed, and it
    hands free heap back to the OS above a trim threshold that moves with it.
    So whether a step's tensors come from the heap or from newly mapped,
    zero-filled pages depends on what the process allocated and freed
    before. Measured on the 2-vCPU VM (`block_minor_faults` in the raw files):
    torch's attention train step (mid) took 0 page faults per call and 10.8 ms
    in one process, 2466 faults and 13.7-14.4 ms in the next two, every block.
    Both frameworks allocate their CPU tensors with malloc; fixed thresholds
    (mallopt(3)) turn the adjustment off, the same for every case and both
    frameworks, and keep a step's memory mapped as a long training run's
    would be. Not glibc (musl, macOS): nothing is set.
    """
    import ctypes
    import ctypes.util

    os.environ.pop(MALLOC_ENV, None)  # a parent's setting is not this process's record
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return None
    if not (mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)):
        return None
    os.environ[MALLOC_ENV] = f"mmap_threshold={MMAP_THRESHOLD},trim_threshold={TRIM_THRESHOLD}"
    return {"mmap_threshold": MMAP_THRESHOLD, "trim_threshold": TRIM_THRESHOLD}


def memory_maps() -> tuple[int, int] | None:
    """(this process's memory mappings, the kernel's limit vm.max_map_count), or None off Linux."""
    try:
        with open("/proc/self/maps", "rb") as maps:
            count = sum(1 for _ in maps)
        with open("/proc/sys/vm/max_map_count") as limit:
            return count, int(limit.read())
    except (OSError, ValueError):
        return None


def keep_memory_maps_in_bounds() -> bool:
    """Drop the frameworks' compile caches when this process holds over half the mappings the kernel
    allows; whether it did. Call outside timing: the next call, a block's untimed warm-up call,
    compiles again.

    Why: Keras on JAX without jit_compile compiles new XLA executables on
    every call and JAX's caches keep them, each with its own mapped code
    pages. Measured on the 2-vCPU VM: the attention train step (seed size)
    added about 134 mappings per call; a whole run of 10 blocks reached the
    kernel's limit (65530) and XLA crashed (SIGSEGV) in the middle of a
    block. Clearing JAX's caches hands them back; its cost (the warm-up call
    compiles from scratch) is paid at most every few hundred calls.
    """
    maps = memory_maps()
    if maps is None or maps[0] < maps[1] // 2:
        return False
    for framework in framework_classes():
        framework.release_compile_caches()
    return True


def malloc_settings() -> str | None:
    return os.environ.get(MALLOC_ENV)


def pinned_cpus() -> list[int] | None:
    text = os.environ.get(PINNED_ENV)
    return [int(c) for c in text.split(",")] if text else None


def keras_backend() -> str:
    """This process's Keras backend: $KERAS_BACKEND, else Keras's default."""
    return os.environ.get("KERAS_BACKEND", DEFAULT_KERAS_BACKEND)


def apply_thread_limits(threads: int) -> None:
    """Set the thread pools that can only be set through each framework's API (impls/contract.py order)."""
    for framework in framework_classes():
        framework.set_threads(threads)


def thread_report(threads: int) -> dict:
    """What each loaded framework's pools actually hold, for environment.json (imports nothing new)."""
    report = {
        "requested": threads,
        "env": {var: os.environ.get(var) for var in THREAD_ENV},
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
    }
    for framework in framework_classes():  # torch's and TensorFlow's pools, where loaded
        report.update(framework.thread_pools())
    if "jax" in sys.modules:
        # XLA:CPU takes no thread count: one thread when Eigen's pool is off, else every core.
        one = XLA_ONE_THREAD in report["XLA_FLAGS"]
        report["jax"] = {"xla_cpu_threads": 1 if one else available_cores(),
                         "how": XLA_ONE_THREAD if one else "XLA:CPU default (all cores)"}
    try:  # every thread the process holds now, whoever made it
        report["process_threads"] = len(os.listdir("/proc/self/task"))
    except OSError:
        pass
    return report
