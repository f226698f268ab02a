"""Keras as a runtime: its process-wide part (KerasFramework) and its per-model part (KerasRunner).

KerasFramework sends each operation to the backend Keras runs on (TensorFlow,
JAX, or torch through impls/torch_runtime.py). KerasRunner compiles with
`jit_compile` and uses `train_on_batch` and `predict_on_batch`; every call
returns only after the device has finished, as the torch runner's do.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from contextlib import contextmanager

import numpy as np

from . import compile_cache, compile_events, memory_probes
from .contract import package_version
from .kernels import keras_lstm_kernel
from .runtime_base import FrameworkBase, StepRunner
from .spec import DEFAULT_KERAS_HEAD, KERAS_EPSILON
from .torch_runtime import TorchFramework


def keras_device_name(backend: str, device: str) -> str:
    """What keras.device() wants. On the torch backend, "cpu:0" breaks variable creation
    (Keras 3.15: "Only Tensors of floating point ... can require gradients"); "cpu" works."""
    if backend == "torch":
        return device
    return "gpu:0" if device == "cuda" else "cpu:0"


class KerasFramework(FrameworkBase):
    """Keras's process-wide operations: each goes to the backend Keras runs on."""

    framework = "keras"

    @staticmethod
    def _backend() -> str:
        import keras

        return keras.backend.backend()

    @classmethod
    def unavailable(cls, device: str) -> str | None:
        if device == "cpu":
            return None
        backend = cls._backend()
        if backend == "tensorflow":
            import tensorflow as tf

            ok = bool(tf.config.list_physical_devices("GPU"))
        elif backend == "jax":
            import jax

            ok = any(d.platform == "gpu" for d in jax.devices())
        else:
            ok = TorchFramework.unavailable(device) is None
        return None if ok else f"no GPU for Keras's {backend} backend"

    @classmethod
    def full_float32(cls, device: str) -> None:
        if device != "cuda":
            return
        backend = cls._backend()
        if backend == "tensorflow":
            import tensorflow as tf

            tf.config.experimental.enable_tensor_float_32_execution(False)
        elif backend == "jax":
            import jax

            jax.config.update("jax_default_matmul_precision", "highest")
        else:
            TorchFramework.full_float32(device)

    @classmethod
    def reset_compiled(cls) -> None:
        if cls._backend() == "torch":  # XLA and jax.jit key their caches by model: nothing shared
            TorchFramework.reset_compiled()

    @classmethod
    def release_compile_caches(cls) -> None:
        """On JAX: without jit_compile every call compiles new XLA executables, and JAX's caches keep
        them with their mapped code pages (about 134 memory maps per attention train step, seed size)."""
        if cls._backend() == "jax" and "jax" in sys.modules:
            import jax

            jax.clear_caches()

    @classmethod
    def use_compile_cache(cls, directory: str) -> dict:
        """The cache of the backend Keras will run on ($KERAS_BACKEND, as configure set it: asking Keras
        would load it, and TensorFlow with it, before the cache is set)."""
        backend = os.environ.get("KERAS_BACKEND", "tensorflow")
        return compile_cache.point(backend, directory)

    @classmethod
    def compile_cache_events(cls) -> Counter:
        return compile_cache.events(os.environ.get("KERAS_BACKEND", "tensorflow"))

    @classmethod
    @contextmanager
    def gemm(cls, device: str, n: int):
        """Through the Keras backend's own matmul (jit-compiled where the backend compiles)."""
        import keras

        with keras.device(keras_device_name(keras.backend.backend(), device)):
            rng = np.random.default_rng(0)
            a = keras.ops.convert_to_tensor(rng.random((n, n), dtype=np.float32))
            b = keras.ops.convert_to_tensor(rng.random((n, n), dtype=np.float32))
            matmul = keras.ops.matmul
            if keras.backend.backend() == "jax":
                import jax

                matmul = jax.jit(matmul)

            def call():
                keras.ops.convert_to_numpy(matmul(a, b)[0, 0])  # waits for the result

            yield call

    @classmethod
    def count_params(cls, model, layer: str | None = None, trainable_only: bool = False) -> int:
        target = model.get_layer(layer) if layer else model
        if trainable_only:
            return int(sum(np.prod(v.shape) for v in target.trainable_variables))
        return target.count_params()

    @classmethod
    def gpu_name(cls) -> str | None:
        backend = cls._backend()
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            return tf.config.experimental.get_device_details(gpus[0]).get("device_name") if gpus else None
        if backend == "jax":
            import jax

            return next((d.device_kind for d in jax.devices() if d.platform == "gpu"), None)
        return TorchFramework.gpu_name()

    @classmethod
    def memory_probe(cls, device: str):
        if device == "cpu":
            return None
        backend = cls._backend()
        if backend == "torch":
            return TorchFramework.memory_probe(device)
        return (memory_probes.TensorFlowGpuProbe if backend == "tensorflow" else memory_probes.JaxGpuProbe)()

    @classmethod
    def set_threads(cls, threads: int) -> None:
        # The backend from the environment, as bench/suite/runtime.py configure set it: importing Keras
        # to ask would load TensorFlow (its default backend) in a torch-only process.
        if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
            import tensorflow as tf

            try:
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(threads)
            except RuntimeError:  # TensorFlow's context already started; env vars still hold
                pass

    @classmethod
    def thread_pools(cls) -> dict:
        if "tensorflow" not in sys.modules:
            return {}
        threading = sys.modules["tensorflow"].config.threading
        # 0 means "TensorFlow's default", which then comes from TF_NUM_*_THREADS.
        return {"tensorflow": {"intra_op": threading.get_intra_op_parallelism_threads(),
                               "inter_op": threading.get_inter_op_parallelism_threads()}}

    @classmethod
    def versions(cls, keras_backend: str) -> dict:
        return dict(framework_version=package_version("keras"), backend_version=package_version(keras_backend))


class KerasRunner(StepRunner):
    """A compiled Keras model: `train_on_batch` and `predict_on_batch`, the one-batch fast paths."""

    framework = "keras"
    default_head = DEFAULT_KERAS_HEAD

    def _build(self, optimizer: str, learning_rate: float, seed: int) -> None:
        import keras

        from .keras_losses import keras_loss  # late: loads Keras, after the suite set threads and the backend
        from .keras_models import build_keras  # late: loads Keras, after the suite set threads and the backend

        self.backend = keras.backend.backend()
        self._keras = keras
        with self.scope():
            self.model = build_keras(self.spec, self.head, seed=seed)
            opt = (
                keras.optimizers.SGD(learning_rate)
                if optimizer == "sgd"
                else keras.optimizers.Adam(learning_rate, epsilon=KERAS_EPSILON)
            )
            self.model.compile(optimizer=opt, loss=keras_loss(self.spec.loss), jit_compile=self.compile_requested)

    @property
    def compiled(self) -> bool:
        """What Keras actually does: it turns XLA off for layers that cannot take it."""
        return bool(self.model.jit_compile)

    @property
    def compiler(self) -> str:
        """What runs the step: Keras's `jit_compile` means something different per backend."""
        labels = {
            "tensorflow": ("tf.function", "XLA"),
            # Not eager in torch's sense: Keras jits pieces (the LSTM's lax.scan) per call.
            "jax": ("no jax.jit", "jax.jit"),
            "torch": ("eager", "torch.compile"),
        }
        return labels[self.backend][self.compiled]

    def trainable_params(self) -> int:
        return KerasFramework.count_params(self.model, trainable_only=True)

    def load_reference(self, keras_model, weights: list) -> None:
        self.model.set_weights(weights)  # same layout for every head variant

    def keras_weights(self, scratch) -> list:
        return self.model.get_weights()

    def scope(self):
        return self._keras.device(keras_device_name(self.backend, self.device))

    def put(self, x, y=None):
        """Check shapes, then place the batch on the device (outside any timed region)."""
        self.spec.check_batch(x, y)
        with self.scope():
            put = self._keras.ops.convert_to_tensor
            return put(x), (None if y is None else put(y))

    def train_step(self, x, y) -> float:
        """One optimizer step; returns the loss before the update (forces a sync)."""
        with self.scope():
            return float(self.model.train_on_batch(x, y))

    def infer(self, x):
        """The compiled predict step on one batch; returns NumPy (so the device is done)."""
        with self.scope():
            return self.model.predict_on_batch(x)

    def forward(self, x) -> np.ndarray:
        """An eager forward pass without the compiled step, for checks."""
        with self.scope():
            return self._keras.ops.convert_to_numpy(self.model(x, training=False))

    def to_numpy(self, value) -> np.ndarray:
        return np.asarray(self._keras.ops.convert_to_numpy(value))

    def gradients(self, x, y) -> dict[str, np.ndarray]:
        """d(loss)/d(weight) for every trainable variable, keyed by variable path."""
        from ._keras_grads import keras_gradients  # late: loads Keras, after the suite set threads and the backend

        with self.scope():
            return keras_gradients(self.model, x, y, self.spec.loss)

    def sync(self) -> None:
        """Nothing to wait for: every call above already returns host values."""

    def kernel(self, x=None) -> str:
        return keras_lstm_kernel(self.backend, self.device, self.compiled)

    def compile_count(self) -> int:
        """Compilations so far: XLA builds (JAX), Dynamo graphs (torch), traces (TensorFlow)."""
        if self.backend == "jax":
            return compile_events.jax_compiles()
        if self.backend == "torch":
            return compile_events.dynamo_graphs()
        return compile_events.tf_traces(self.model.train_function, self.model.predict_function)

    def graph_breaks(self) -> Counter:
        return compile_events.dynamo_graph_breaks() if self.backend == "torch" else Counter()
