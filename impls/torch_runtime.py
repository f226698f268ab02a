"""torch as a runtime: its process-wide part (TorchFramework) and its per-model part (TorchRunner).

"Compiled" means the same scope as Keras's: Keras's `jit_compile=True` compiles
its whole train step (forward, loss, backward, optimizer update), so torch's
compiled train step is one `torch.compile`d function of forward, loss,
backward and `optimizer.step()`. Every call returns only after the device has
finished: a train step gives the loss as a Python float, an infer call a
NumPy array on the host, as the Keras runner's do (impls/keras_runtime.py).
"""

from __future__ import annotations

import sys
from collections import Counter
from contextlib import contextmanager

import numpy as np

from . import compile_cache, compile_events, memory_probes
from .contract import package_version
from .kernels import torch_lstm_kernel
from .runtime_base import FrameworkBase, StepRunner
from .spec import DEFAULT_TORCH_HEAD, KERAS_EPSILON


class TorchFramework(FrameworkBase):
    """torch's process-wide operations."""

    framework = "torch"

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

    @classmethod
    def versions(cls, keras_backend: str) -> dict:
        return dict(framework_version=package_version("torch"), backend_version=package_version("torch"))


class TorchRunner(StepRunner):
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
        return TorchFramework.count_params(self.model, trainable_only=True)

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
