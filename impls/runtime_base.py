"""What the runtime modules (impls/*_runtime.py) share: argument checks, the thread record, the step runner.

Kept apart so each runtime module holds only its own framework; nothing here imports one.
"""

from __future__ import annotations

import os

from .spec import KERAS_ADAM_LEARNING_RATE, ModelSpec

OPTIMIZERS = ("adam", "keras_adam", "sgd")
DEVICES = ("cpu", "cuda")

# Keras's epsilon (impls/spec.py KERAS_EPSILON) is used by both frameworks, so
# "adam" means equal hyper-parameters; only the update rule differs (impls/optim.py).


def check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


class FrameworkBase:
    """The thread count every Framework part keeps: set once by runtime.configure, read by runtimes
    whose pools are per object (ONNX Runtime's sessions) rather than per process."""

    framework: str
    _threads: int | None = None

    @classmethod
    def configure_threads(cls, threads: int) -> None:
        cls._threads = threads

    @classmethod
    def threads(cls) -> int:
        return cls._threads if cls._threads is not None else len(os.sched_getaffinity(0))


class StepRunner:
    """What the Keras and torch runners share: checked arguments, then `_build` makes the model and optimizer."""

    framework: str
    default_head: str

    def __init__(
        self,
        spec: ModelSpec,
        head: str | None = None,
        device: str = "cpu",
        compile: bool = False,
        optimizer: str = "adam",
        learning_rate: float = KERAS_ADAM_LEARNING_RATE,
        seed: int = 0,
        **framework_options,
    ):
        self.spec, self.head = spec, self.default_head if head is None else head
        self.device = check_choice("device", device, DEVICES)
        check_choice("optimizer", optimizer, OPTIMIZERS)
        self.compile_requested = bool(compile)
        self._build(optimizer, learning_rate, seed, **framework_options)

    def row_extras(self) -> dict:
        return {}
