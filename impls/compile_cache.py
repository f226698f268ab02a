"""Persistent, on-disk compile caches: point each framework's at one directory, and count hits and misses.

The suite's default keeps them off (bench/suite/runtime.py configure sets
TORCHINDUCTOR_FX_GRAPH_CACHE=0 and TORCHINDUCTOR_AUTOGRAD_CACHE=0), so a
row's first call is the cold compile a fresh machine pays. With `--compile-cache
DIR` the runners call `point(framework, DIR)` before any framework loads; each
framework gets its own subdirectory:

- torch Inductor (native torch.compile, and Keras on torch): the FX graph cache
  and the AOT autograd cache, under DIR/torch-inductor (TORCHINDUCTOR_CACHE_DIR).
  Dynamo still traces in every process; what is cached is Inductor's codegen and
  the C++ compile of its kernels.
- JAX (Keras on JAX): the persistent compilation cache, DIR/jax, every
  executable written whatever its compile time or size (the thresholds at 0).
- TensorFlow (Keras on TensorFlow with XLA): XLA's persistent cache,
  DIR/tf-xla (TF_XLA_FLAGS=--tf_xla_persistent_cache_directory).

All three are set through environment variables, read when the framework
loads; a framework already loaded is told through its config as well.

`events(framework)` counts, process-wide, the cache's hits and misses where the
framework counts them (torch's Dynamo counters, JAX's monitoring events) and
the files in its subdirectory (a miss writes one; TensorFlow counts nothing
else). `state(before, after)` turns two counts around a first call into the
row's `compile_cache` cell.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path

SUBDIRS = {"torch": "torch-inductor", "jax": "jax", "tensorflow": "tf-xla"}
TF_FLAG = "--tf_xla_persistent_cache_directory"
JAX_EVENTS = {"/jax/compilation_cache/cache_hits": "hits", "/jax/compilation_cache/cache_misses": "misses"}

_directory: dict[str, Path] = {}  # framework -> its cache directory, in this process
_jax_counts: Counter = Counter()
_jax_listening = False


def directory(framework: str) -> Path | None:
    """This process's cache directory for `framework` ("torch", "jax", "tensorflow"), or None (off)."""
    return _directory.get(framework)


def point(framework: str, root) -> dict:
    """Point `framework`'s persistent compile cache at ROOT/<its subdirectory>; the settings made."""
    path = Path(root).resolve() / SUBDIRS[framework]
    path.mkdir(parents=True, exist_ok=True)
    _directory[framework] = path
    if framework == "torch":
        settings = {"TORCHINDUCTOR_FX_GRAPH_CACHE": "1", "TORCHINDUCTOR_AUTOGRAD_CACHE": "1",
                    "TORCHINDUCTOR_CACHE_DIR": str(path)}
        os.environ.update(settings)
        if "torch._inductor.config" in sys.modules:  # loaded already: its env-forced values were read
            sys.modules["torch._inductor.config"].fx_graph_cache = True
            sys.modules["torch._functorch.config"].enable_autograd_cache = True
        return settings
    if framework == "jax":
        settings = {"JAX_COMPILATION_CACHE_DIR": str(path), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
                    "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}
        os.environ.update(settings)
        if "jax" in sys.modules:
            jax = sys.modules["jax"]
            jax.config.update("jax_compilation_cache_dir", str(path))
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
            jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        return settings
    flags = [f for f in os.environ.get("TF_XLA_FLAGS", "").split() if not f.startswith(TF_FLAG)]
    os.environ["TF_XLA_FLAGS"] = " ".join([*flags, f"{TF_FLAG}={path}"])
    return {"TF_XLA_FLAGS": os.environ["TF_XLA_FLAGS"]}


def _listen_to_jax() -> None:
    """Count JAX's cache events from now on (JAX must be loaded: it is, once a model is built)."""
    global _jax_listening
    if _jax_listening or "jax" not in sys.modules:
        return
    from jax import monitoring

    def record(event: str, **kwargs) -> None:
        if event in JAX_EVENTS:
            _jax_counts[JAX_EVENTS[event]] += 1

    monitoring.register_event_listener(record)
    _jax_listening = True


def files(path: Path | None) -> int:
    """Files under `path` (0 where there is none)."""
    if path is None or not path.is_dir():
        return 0
    return sum(len(names) for _, _, names in os.walk(path))


def events(framework: str) -> Counter:
    """Hits, misses and files written so far in this process for `framework`'s cache; empty when it is off."""
    path = directory(framework)
    if path is None:
        return Counter()
    counts = Counter(files=files(path))
    if framework == "torch" and "torch._dynamo.utils" in sys.modules:
        counters = sys.modules["torch._dynamo.utils"].counters
        counts["hits"] += counters["inductor"]["fxgraph_cache_hit"] + counters["aot_autograd"]["autograd_cache_hit"]
        counts["misses"] += counters["inductor"]["fxgraph_cache_miss"] + counters["aot_autograd"]["autograd_cache_miss"]
    elif framework == "jax":
        _listen_to_jax()
        counts.update(_jax_counts)
    else:  # TensorFlow counts no hits that Python can read: only its files tell
        counts["blind"] = 1
    return counts


def state(before: Counter, after: Counter, compiled: bool = True) -> str:
    """The compile_cache cell of a row, from events() around its first call.

    "" where the cache is off; "cold" when the first call found nothing to reuse (misses, or files
    written, and no hit); "warm" when it reused entries and missed none; "partly warm" for both;
    "unused" when nothing was looked up or written (nothing compiled in that call). Each with
    the counts, e.g. "warm (4 hits)". TensorFlow counts no hits: a compiled first call that wrote
    nothing into a cache holding entries is "warm" there, said as such.
    """
    if not after:
        return ""
    hits = after["hits"] - before["hits"]
    misses = after["misses"] - before["misses"]
    written = after["files"] - before["files"]
    counted = ", ".join(f"{n} {what}" for n, what in ((hits, "hits"), (misses, "misses"), (written, "files written")) if n)
    if (misses or written) and not hits:
        word = "cold"
    elif hits and not (misses or written):
        word = "warm"
    elif hits:
        word = "partly warm"
    elif after["blind"] and compiled and after["files"]:
        return f"warm (nothing written, {after['files']} files cached)"
    else:
        word = "unused"
    return f"{word} ({counted})" if counted else word
