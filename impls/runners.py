"""One thin adapter per framework: build on a device, put data there, train a step, infer.

Everything that trains or times a model (the parity tests, the benchmarks,
`python -m bench seed`) goes through these two classes, so both frameworks
always get the same treatment: shapes checked once before any step, data on
the device before any timed call, every call returning only after the device
has finished. Both arms end a call in the same state: a train step returns
the loss as a Python float, an infer call a NumPy array on the host.

"Compiled" means the same scope on both sides: Keras's `jit_compile=True`
compiles its whole train step (forward, loss, backward, optimizer update) with
XLA or `jax.jit`, so torch's compiled train step is one `torch.compile`d
function of forward, loss, backward and `optimizer.step()`.

Both classes implement the runner contract (impls/contract.py), framework-wide
operations included (device availability, TF32, compile caches, GEMM peak,
parameter counts, versions, GPU name, memory probe, thread pools).
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from contextlib import contextmanager

import numpy as np

from . import compile_cache, compile_events, memory_probes
from .contract import package_version
from .kernels import keras_lstm_kernel, torch_lstm_kernel
from .spec import DEFAULT_KERAS_HEAD, DEFAULT_TORCH_HEAD, KERAS_ADAM_LEARNING_RATE, KERAS_EPSILON, ModelSpec

OPTIMIZERS = ("adam", "keras_adam", "sgd")
DEVICES = ("cpu", "cuda")

# Keras's epsilon (impls/spec.py KERAS_EPSILON) is used by both frameworks, so
# "adam" means equal hyper-parameters; only the update rule differs (impls/optim.py).


def keras_device_name(backend: str, device: str) -> str:
    """What keras.device() wants. On the torch backend, "cpu:0" breaks variable creation
    (Keras 3.15: "Only Tensors of floating point ... can require gradients"); "cpu" works."""
    if backend == "torch":
        return device
    return "gpu:0" if device == "cuda" else "cpu:0"


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


class _StepRunner:
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
        self.device = _check_choice("device", device, DEVICES)
        _check_choice("optimizer", optimizer, OPTIMIZERS)
        self.compile_requested = bool(compile)
        self._build(optimizer, learning_rate, seed, **framework_options)

    def row_extras(self) -> dict:
        return {}

    @classmethod
    def versions(cls, keras_backend: str) -> dict:
        backend = keras_backend if cls.framework == "keras" else cls.framework
        return dict(framework_version=package_version(cls.framework), backend_version=package_version(backend))


class KerasRunner(_StepRunner):
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
        return self.count_params(self.model, trainable_only=True)

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

    # --- Keras as a framework: each operation goes to the backend Keras runs on ------------

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
            ok = TorchRunner.unavailable(device) is None
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
            TorchRunner.full_float32(device)

    @classmethod
    def reset_compiled(cls) -> None:
        if cls._backend() == "torch":  # XLA and jax.jit key their caches by model: nothing shared
            TorchRunner.reset_compiled()

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
        return TorchRunner.gpu_name()

    @classmethod
    def memory_probe(cls, device: str):
        if device == "cpu":
            return None
        backend = cls._backend()
        if backend == "torch":
            return TorchRunner.memory_probe(device)
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


class TorchRunner(_StepRunner):
    """A torch model with the usual step: zero_grad, forward, loss, backward, optimizer.step."""

    framework = "torch"
    backend = "torch"
    default_head = DEFAULT_TORCH_HEAD

    def _build(self, optimizer: str, learning_rate: float, seed: int, torch_bias: str = "keras") -> None:
        import torch

        from .optim import KerasAdam  # late: loads torch, after the suite set threads and the backend
        from .torch_losses import torch_loss  # late: loads torch, after the suite set threads and the backend
        from .torch_models import build_torch  # late: loads torch, after the suite set threads and the backend

        self._torch = torch
        self.model = build_torch(self.spec, self.head, torch_bias=torch_bias, seed=seed).to(self.device)
        self.compiled = self.compile_requested
        # Compiled lazily, on first use: the forward alone for infer, the whole step for train.
        # dynamic=False: static shapes, one graph per case (each case has one batch shape); without it
        # Dynamo turns a second shape into a dynamic-shape graph, and the cache keys follow the shapes.
        self.call = torch.compile(self.model, dynamic=False) if self.compiled else self.model
        self._step = torch.compile(self._forward_backward_update, dynamic=False) if self.compiled else self._forward_backward_update
        params = [p for p in self.model.parameters() if p.requires_grad]
        if optimizer == "sgd":
            self.optimizer = torch.optim.SGD(params, lr=learning_rate)
        elif optimizer == "keras_adam":
            self.optimizer = KerasAdam(params, lr=learning_rate, epsilon=KERAS_EPSILON)
        else:
            self.optimizer = torch.optim.Adam(params, lr=learning_rate, eps=KERAS_EPSILON)
        self.loss_fn = torch_loss(self.spec.loss)

    @property
    def compiler(self) -> str:
        return "torch.compile" if self.compiled else "eager"

    def trainable_params(self) -> int:
        return self.count_params(self.model, trainable_only=True)

    def load_reference(self, keras_model, weights: list) -> None:
        from .bridge import copy_weights  # late: loads Keras and torch, after the suite set threads and the backend

        copy_weights(keras_model, self.model)

    def keras_weights(self, scratch) -> list:
        from .bridge import copy_weights  # late: loads Keras and torch, after the suite set threads and the backend

        copy_weights(self.model, scratch)
        return scratch.get_weights()

    def put(self, x, y=None):
        self.spec.check_batch(x, y)
        t = self._torch
        x = t.from_numpy(np.ascontiguousarray(x)).to(self.device)
        if x.dtype == t.int32:
            x = x.long()  # nn.Embedding's documented index type
        return x, (None if y is None else t.from_numpy(np.ascontiguousarray(y)).to(self.device))

    def _forward_backward_update(self, x, y):
        """What Keras's compiled train step holds: forward, loss, backward, optimizer update."""
        loss = self.loss_fn(self.model(x), y)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def train_step(self, x, y) -> float:
        self.model.train()
        # Outside the compiled step: Dynamo will not trace Optimizer.zero_grad (a graph break).
        self.optimizer.zero_grad(set_to_none=True)
        return self._step(x, y).item()  # .item() waits for the device

    def infer(self, x) -> np.ndarray:
        """Forward under inference_mode; returns NumPy on the host, as Keras's predict_on_batch does."""
        self.model.eval()
        with self._torch.inference_mode():
            out = self.call(x)
        return out.cpu().numpy()  # on a GPU this copy waits for the device

    def forward(self, x) -> np.ndarray:
        self.model.eval()
        with self._torch.no_grad():
            return self.model(x).cpu().numpy()

    def to_numpy(self, value) -> np.ndarray:
        return value.detach().cpu().numpy()

    def gradients(self, x, y) -> dict:
        """d(loss)/d(parameter), left in each parameter's .grad (read via the bridge)."""
        self.model.zero_grad(set_to_none=True)
        self.loss_fn(self.model(x), y).backward()
        return {name: p.grad for name, p in self.model.named_parameters() if p.grad is not None}

    def sync(self) -> None:
        if self.device == "cuda":
            self._torch.cuda.synchronize()

    def kernel(self, x=None) -> str:
        return torch_lstm_kernel(self, x)

    def compile_count(self) -> int:
        return compile_events.dynamo_graphs()

    def graph_breaks(self) -> Counter:
        return compile_events.dynamo_graph_breaks()

    # --- torch as a framework ------------------------------------------------------------

    @classmethod
    def unavailable(cls, device: str) -> str | None:
        if device == "cpu":
            return None
        import torch

        return None if torch.cuda.is_available() else "no CUDA device: torch.cuda.is_available() is False"

    @classmethod
    def full_float32(cls, device: str) -> None:
        if device != "cuda":
            return
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False

    @classmethod
    def reset_compiled(cls) -> None:
        """Dynamo keys compiled graphs by code object, not by model: a later case would reuse them."""
        import torch

        torch._dynamo.reset()

    @classmethod
    def release_compile_caches(cls) -> None:
        """Nothing grows per call: eager ops are not compiled, dynamo compiles once per case."""

    @classmethod
    def use_compile_cache(cls, directory: str) -> dict:
        """Inductor's FX graph cache and AOT autograd cache on disk (configure turns them off by default)."""
        return compile_cache.point("torch", directory)

    @classmethod
    def compile_cache_events(cls) -> Counter:
        return compile_cache.events("torch")

    @classmethod
    @contextmanager
    def gemm(cls, device: str, n: int):
        import torch

        a = torch.rand(n, n, device=device)
        b = torch.rand(n, n, device=device)

        def call():
            a @ b
            if device == "cuda":
                torch.cuda.synchronize()

        yield call

    @classmethod
    def count_params(cls, model, layer: str | None = None, trainable_only: bool = False) -> int:
        target = getattr(model, layer) if layer else model
        return sum(p.numel() for p in target.parameters() if p.requires_grad or not trainable_only)

    @classmethod
    def gpu_name(cls) -> str | None:
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None

    @classmethod
    def memory_probe(cls, device: str):
        if device == "cpu":
            return None
        return memory_probes.TorchCudaProbe()

    @classmethod
    def set_threads(cls, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(threads)
        except RuntimeError:  # already set once in this process
            pass

    @classmethod
    def thread_pools(cls) -> dict:
        if "torch" not in sys.modules:
            return {}
        torch = sys.modules["torch"]
        return {"torch": {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()}}
