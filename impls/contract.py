"""The runtime contract: every framework-specific operation the suite needs, in two parts.

`bench/` never imports a framework. It asks for a runtime by name
(`framework_class("torch")`, `make_runner("keras", spec, head)`) and calls the
operations below; a test (tests/test_layout.py) keeps any framework import
out of `bench/`. To add a runtime (a Keras backend of its own, TensorRT, ...):
write one module (impls/<name>_runtime.py) with a class that has every member
of `Framework` and one that has every member of `Runner`, add both to
`RUNTIMES`, and add the name to `bench/suite/cases.py` FRAMEWORKS;
tests/test_layout.py checks both classes against this contract.

The two parts:

- `Framework` (classmethods, no model needed; process-wide): the suite's
  thread count and the pools only the API sets, is a device there, full
  float32 on a GPU, forget compiled graphs, drop compile caches, a GEMM to
  measure the machine's peak, parameter counts of a built model, versions,
  GPU name, a GPU memory probe. Split off so the suite can ask them of every
  runtime without building a model. These may import the framework: call
  them after bench/suite/runtime.py configure (threads and the Keras backend
  are read at import), except `configure_threads`, which configure calls.
- `Runner` (one instance per model): one model built on one device, with its
  optimizer; it loads the reference weights, puts a batch on the device,
  takes a train step, infers, and says which kernel and compiler it runs.
  Every call returns only after the device has finished (a train step gives a
  Python float, an infer call a NumPy array on the host).

An operation a runtime cannot do raises NotImplementedError saying so (ONNX
Runtime has no train step); the suite never calls it for such a runtime.
"""

from __future__ import annotations

from collections import Counter
from contextlib import AbstractContextManager
import inspect
from importlib import import_module
from typing import Callable, Protocol, runtime_checkable

import numpy as np

from .spec import ModelSpec

# name -> ("module:Framework class", "module:Runner class"), one module per runtime. Order matters
# where the suite asks every runtime in turn (thread pools, full float32): torch first, so its pools
# are set before TensorFlow loads, the order the suite has always used.
RUNTIMES = {
    "torch": ("impls.torch_runtime:TorchFramework", "impls.torch_runtime:TorchRunner"),
    "keras": ("impls.keras_runtime:KerasFramework", "impls.keras_runtime:KerasRunner"),
    "onnxruntime": ("impls.onnx_runtime:OnnxFramework", "impls.onnx_runtime:OnnxRunner"),
}


@runtime_checkable
class MemoryProbe(Protocol):
    """Peak device memory of one call, above what the process held just before it."""

    method: str  # how the peak is read, for the mem_method column

    def measure(self, call: Callable[[], object]) -> tuple[int, int]:
        """Run `call` once; (peak bytes during it minus the baseline, the baseline)."""


@runtime_checkable
class Framework(Protocol):
    """One runtime's process-wide operations (classmethods only; no model needed)."""

    framework: str  # the registry name: "keras", "torch", "onnxruntime"

    @classmethod
    def configure_threads(cls, threads: int) -> None:
        """Record the suite's thread count for this process; imports nothing (runtime.configure calls it)."""

    @classmethod
    def threads(cls) -> int:
        """The thread count configure_threads recorded, else the CPUs this process may use."""

    @classmethod
    def set_threads(cls, threads: int) -> None:
        """Set the thread pools that only the framework's API sets (environment variables come earlier)."""

    @classmethod
    def thread_pools(cls) -> dict:
        """{pool owner: its thread counts} for each of this framework's loaded modules; imports nothing."""

    @classmethod
    def unavailable(cls, device: str) -> str | None:
        """Why this runtime cannot use `device` here, or None if it can."""

    @classmethod
    def full_float32(cls, device: str) -> None:
        """Turn TF32 and other reduced-precision matmuls off on `device` (GPU outputs compared at float32)."""

    @classmethod
    def reset_compiled(cls) -> None:
        """Forget in-process compiled graphs, so the next compiled case compiles as a fresh process would."""

    @classmethod
    def release_compile_caches(cls) -> None:
        """Drop process-wide caches of compiled code that grow with every call (the suite calls this
        only when the process nears the kernel's memory-map limit, never inside timed rounds)."""

    @classmethod
    def use_compile_cache(cls, directory: str) -> dict:
        """Point this framework's persistent on-disk compile cache at a subdirectory of `directory`
        (impls/compile_cache.py); call after configure, before the framework loads. The settings made."""

    @classmethod
    def compile_cache_events(cls) -> Counter:
        """Hits, misses and files written so far by this framework's persistent compile cache in this
        process; empty where it is off or there is none (impls/compile_cache.py events)."""

    @classmethod
    def gemm(cls, device: str, n: int) -> AbstractContextManager[Callable[[], None]]:
        """A context holding a function that multiplies two n x n float32 matrices on `device` and waits."""

    @classmethod
    def count_params(cls, model, layer: str | None = None, trainable_only: bool = False) -> int:
        """Parameters of a built model, or of its attribute/layer named `layer`."""

    @classmethod
    def versions(cls, keras_backend: str) -> dict:
        """{"framework_version": ..., "backend_version": ...} of the installed packages."""

    @classmethod
    def gpu_name(cls) -> str | None:
        """The first GPU's name as this framework sees it, or None."""

    @classmethod
    def memory_probe(cls, device: str) -> MemoryProbe | None:
        """The device-memory probe for `device`; None on the CPU (the suite reads the process's RSS)."""


@runtime_checkable
class Runner(Protocol):
    """One model of one runtime on one device, with its optimizer."""

    framework: str  # the registry name: "keras", "torch", "onnxruntime"
    backend: str  # what runs it: Keras's backend, else the framework
    spec: ModelSpec
    head: str
    device: str  # "cpu" or "cuda"
    compile_requested: bool
    compiled: bool  # what the framework actually does (Keras turns XLA off for some layers)

    # __init__(spec, head, device="cpu", compile=False, optimizer="adam", learning_rate=1e-3,
    #          seed=0, **framework_options): build the model on `device`, with its optimizer.

    @property
    def compiler(self) -> str:
        """What runs the step, for the compiler column ("eager", "XLA", "torch.compile", ...)."""

    def load_reference(self, keras_model, weights: list) -> None:
        """Take the problem's reference weights: a Keras model and its get_weights() list."""

    def keras_weights(self, scratch) -> list:
        """This model's weights in Keras's get_weights() order (`scratch`: a Keras model of the same shape)."""

    def trainable_params(self) -> int:
        """Trainable parameters of the built model."""

    def put(self, x: np.ndarray, y: np.ndarray | None = None) -> tuple:
        """Check the batch's shapes against the spec, then place it on the device (outside timing)."""

    def train_step(self, x, y) -> float:
        """One optimizer step on a put batch; the loss before the update, as a float (device synced)."""

    def infer(self, x) -> np.ndarray:
        """The timed inference call on a put batch; a NumPy array on the host."""

    def forward(self, x) -> np.ndarray:
        """An untimed forward pass for checks; a NumPy array on the host."""

    def to_numpy(self, value) -> np.ndarray:
        """A framework value (tensor, array) as NumPy."""

    def gradients(self, x, y) -> dict:
        """d(loss)/d(weight) for every trainable weight, keyed by the framework's weight name."""

    def sync(self) -> None:
        """Wait for the device."""

    def kernel(self, x=None) -> str:
        """Which LSTM kernel this model runs, in words."""

    def compile_count(self) -> int:
        """Compilations so far in this process (to catch a step that recompiles every call)."""

    def graph_breaks(self) -> Counter:
        """torch.compile graph breaks so far by reason (empty where nothing is traced by Dynamo)."""

    def row_extras(self) -> dict:
        """Columns only this runtime fills (an ONNX export's graph counts); {} for most."""


def contract_members(part: type) -> list[str]:
    """Every member name `part` (Framework or Runner) declares, data and methods."""
    names = set(part.__annotations__)
    names |= {n for n, v in vars(part).items() if not n.startswith("_") and (callable(v) or isinstance(v, (property, classmethod)))}
    return sorted(names)


def missing(cls: type, part: type) -> list[str]:
    """What `cls` lacks to be a `part`: absent members, and `part`'s classmethods that are not classmethods.

    Data members (spec, device, ...) are set in __init__, so they are checked on an instance
    (isinstance(runner, Runner)); here, what the class itself must define.
    """
    problems = []
    per_instance = set(part.__annotations__) - {"framework"}  # the registry name is a class attribute
    for name in contract_members(part):
        if name in per_instance:
            continue
        if not hasattr(cls, name):
            problems.append(f"{cls.__name__}.{name}: missing")
        elif isinstance(vars(part).get(name), classmethod) and not isinstance(inspect.getattr_static(cls, name), classmethod):
            problems.append(f"{cls.__name__}.{name}: not a classmethod")
    return problems


def _registered(framework: str, part: int) -> type:
    if framework not in RUNTIMES:
        raise ValueError(f"framework must be one of {', '.join(RUNTIMES)}; got {framework!r}")
    module, _, name = RUNTIMES[framework][part].partition(":")
    return getattr(import_module(module), name)


def framework_class(framework: str) -> type:
    """The process-wide part registered as `framework` (a Framework); ValueError naming the known ones."""
    return _registered(framework, 0)


def framework_classes() -> list[type]:
    """Every registered runtime's process-wide part, in RUNTIMES order."""
    return [framework_class(name) for name in RUNTIMES]


def runner_class(framework: str) -> type:
    """The per-model part registered as `framework` (a Runner); ValueError naming the known ones."""
    return _registered(framework, 1)


def make_runner(framework: str, spec: ModelSpec, head: str | None, **options) -> Runner:
    """A runner of `framework` for `spec` with `head` (None: the runner's default; options: device, compile, optimizer, ...)."""
    return runner_class(framework)(spec, head, **options)


def gpu_name() -> str:
    """The GPU's name as torch sees it, or "none": torch is a core dependency, on every machine."""
    return framework_class("torch").gpu_name() or "none"


def package_version(name: str) -> str | None:
    """The installed distribution's version, or None (reads metadata; imports nothing)."""
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
