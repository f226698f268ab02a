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
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from . import compile_events
from .spec import DEFAULT_KERAS_HEAD, DEFAULT_TORCH_HEAD, ModelSpec

OPTIMIZERS = ("adam", "keras_adam", "sgd")
DEVICES = ("cpu", "cuda")

# Keras's epsilon (1e-7) is used by both frameworks, so "adam" means equal
# hyper-parameters; only the update rule differs (see impls/optim.py).
ADAM_EPSILON = 1e-7


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


class KerasRunner:
    """A compiled Keras model: `train_on_batch` and `predict_on_batch`, the one-batch fast paths."""

    framework = "keras"

    def __init__(
        self,
        spec: ModelSpec,
        head: str = DEFAULT_KERAS_HEAD,
        device: str = "cpu",
        compile: bool = False,
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        seed: int = 0,
    ):
        import keras

        from .keras_losses import keras_loss
        from .keras_models import build_keras

        self.spec, self.head, self.device = spec, head, _check_choice("device", device, DEVICES)
        self.backend = keras.backend.backend()
        _check_choice("optimizer", optimizer, OPTIMIZERS)
        self._keras = keras
        with self.scope():
            self.model = build_keras(spec, head, seed=seed)
            opt = (
                keras.optimizers.SGD(learning_rate)
                if optimizer == "sgd"
                else keras.optimizers.Adam(learning_rate, epsilon=ADAM_EPSILON)
            )
            self.model.compile(optimizer=opt, loss=keras_loss(spec.loss), jit_compile=bool(compile))
        self.compile_requested = bool(compile)

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
        return int(sum(np.prod(v.shape) for v in self.model.trainable_variables))

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
        from ._keras_grads import keras_gradients

        with self.scope():
            return keras_gradients(self.model, x, y, self.spec.loss)

    def sync(self) -> None:
        """Nothing to wait for: every call above already returns host values."""

    def kernel(self, x=None) -> str:
        from .kernels import keras_lstm_kernel

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


class TorchRunner:
    """A torch model with the usual step: zero_grad, forward, loss, backward, optimizer.step."""

    framework = "torch"
    backend = "torch"

    def __init__(
        self,
        spec: ModelSpec,
        head: str = DEFAULT_TORCH_HEAD,
        device: str = "cpu",
        compile: bool = False,
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        seed: int = 0,
        torch_bias: str = "keras",
    ):
        import torch

        from .optim import KerasAdam
        from .torch_losses import torch_loss
        from .torch_models import build_torch

        self._torch = torch
        self.spec, self.head, self.device = spec, head, _check_choice("device", device, DEVICES)
        _check_choice("optimizer", optimizer, OPTIMIZERS)
        self.model = build_torch(spec, head, torch_bias=torch_bias, seed=seed).to(device)
        self.compile_requested = self.compiled = bool(compile)
        # Compiled lazily, on first use: the forward alone for infer, the whole step for train.
        self.call = torch.compile(self.model) if compile else self.model
        self._step = torch.compile(self._forward_backward_update) if compile else self._forward_backward_update
        params = [p for p in self.model.parameters() if p.requires_grad]
        if optimizer == "sgd":
            self.optimizer = torch.optim.SGD(params, lr=learning_rate)
        elif optimizer == "keras_adam":
            self.optimizer = KerasAdam(params, lr=learning_rate, epsilon=ADAM_EPSILON)
        else:
            self.optimizer = torch.optim.Adam(params, lr=learning_rate, eps=ADAM_EPSILON)
        self.loss_fn = torch_loss(spec.loss)

    @property
    def compiler(self) -> str:
        return "torch.compile" if self.compiled else "eager"

    def trainable_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters() if p.requires_grad)

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
        from .kernels import torch_lstm_kernel

        return torch_lstm_kernel(self, x)

    def compile_count(self) -> int:
        return compile_events.dynamo_graphs()

    def graph_breaks(self) -> Counter:
        return compile_events.dynamo_graph_breaks()


def make_runner(framework: str, spec: ModelSpec, head: str, **options):
    """The runner for `framework` ("keras", "torch" or "onnxruntime")."""
    _check_choice("framework", framework, ("keras", "torch", "onnxruntime"))
    if framework == "onnxruntime":
        from .onnx_runner import OnnxRunner

        return OnnxRunner(spec, head, **options)
    return (KerasRunner if framework == "keras" else TorchRunner)(spec, head, **options)
