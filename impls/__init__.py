"""The seed's models, written twice (Keras and PyTorch), and the bridge between them.

The framework modules are imported on first use, so `from impls import
ModelSpec` stays cheap and a caller can set thread counts and KERAS_BACKEND
before Keras, TensorFlow or torch are loaded.
"""

from importlib import import_module

from .params import dense_params, layer_formulas, lstm_params, model_params
from .spec import (
    DEFAULT_KERAS_HEAD,
    DEFAULT_TORCH_HEAD,
    KERAS_HEADS,
    SEED_BATCH,
    TOPOLOGIES,
    TORCH_HEADS,
    ModelSpec,
)

_LAZY = {
    "build_keras": "keras_models",
    "build_torch": "torch_models",
    "trainable_params": "torch_models",
    "copy_weights": "bridge",
    "weight_pairs": "bridge",
    "KerasAdam": "optim",
}

__all__ = [
    "TOPOLOGIES",
    "SEED_BATCH",
    "KERAS_HEADS",
    "TORCH_HEADS",
    "DEFAULT_KERAS_HEAD",
    "DEFAULT_TORCH_HEAD",
    "ModelSpec",
    "lstm_params",
    "dense_params",
    "layer_formulas",
    "model_params",
    *_LAZY,
]


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'impls' has no attribute {name!r}")
