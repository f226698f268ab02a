"""Export a Keras or torch model to ONNX through each framework's own exporter, and count its graph.

Keras: `model.export(path, format="onnx")`; on the TensorFlow backend it goes
through tf2onnx, on JAX through jax2onnx, on torch through torch.onnx.
torch: `torch.onnx.export(..., dynamo=True)`, the torch.export-based exporter
(torch's default since 2.9; the TorchScript one is deprecated). Both export
with the case's batch; Keras leaves the batch axis dynamic, torch fixes it.
"""

from __future__ import annotations

import warnings
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import numpy as np

TORCH_EXPORTER = "torch.onnx.export(dynamo=True)"
KERAS_EXPORT_VIA = {"tensorflow": "tf2onnx", "jax": "jax2onnx", "torch": "torch.onnx"}
# What a "MatMul" is when counting: the matrix products ONNX and ORT's fusions write.
MATMUL_OPS = ("MatMul", "Gemm", "FusedMatMul", "FusedGemm")


class OnnxExportError(RuntimeError):
    """An export that failed, or an .onnx file that does not fit: one line naming the model and exporter."""


def exporter_name(source: str, keras_backend: str | None = None) -> str:
    if source == "torch":
        return TORCH_EXPORTER
    via = KERAS_EXPORT_VIA.get(keras_backend, keras_backend)
    return f"keras model.export(format='onnx') via {via}"


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0]}" if text else type(e).__name__


def export_keras(model, x: np.ndarray, path: Path, name: str) -> str:
    """Write `model` (called once on `x`, as Keras requires) to `path`; returns the exporter's name."""
    import keras

    exporter = exporter_name("keras", keras.backend.backend())
    try:
        model(x[:1])  # Keras refuses to export a model that was never called
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.export(str(path), format="onnx", verbose=False)
    except Exception as e:
        raise OnnxExportError(f"{name}: {exporter} failed: {_first_line(e)}") from e
    return exporter


# opset -> the exporter's registry of ONNX functions (see _torchlib_registry_reused)
_TORCHLIB_REGISTRIES: dict = {}


@contextmanager
def _torchlib_registry_reused():
    """Within the block, torch.onnx.export's registry of ATen -> ONNX functions is built once per opset
    and process, not once per export.

    torch 2.13 rebuilds it from torchlib on every export (`ONNXRegistry.from_torchlib`: about 500
    functions, each parsed from its Python source): about half of an export of these models, which
    the suite does for every ONNX Runtime case. The registry depends on the opset alone, and the export
    only reads it (custom_translation_table, which would add to it, is not used here); the .onnx
    file written is byte for byte the one a fresh registry gives (tests/test_onnx.py). Where torch
    has no such method, the block changes nothing.
    """
    try:
        from torch.onnx._internal.exporter import _registration
    except ImportError:
        yield
        return
    registry_class = getattr(_registration, "ONNXRegistry", None)
    build = vars(registry_class).get("from_torchlib") if registry_class is not None else None
    if not isinstance(build, classmethod):
        yield
        return

    def reused(cls, opset_version=None, **kwargs):
        key = (opset_version, tuple(sorted(kwargs.items())))
        if key not in _TORCHLIB_REGISTRIES:
            args = {} if opset_version is None else dict(opset_version=opset_version)
            _TORCHLIB_REGISTRIES[key] = build.__func__(cls, **args, **kwargs)
        return _TORCHLIB_REGISTRIES[key]

    registry_class.from_torchlib = classmethod(reused)
    try:
        yield
    finally:
        registry_class.from_torchlib = build


def export_torch(model, x, path: Path, name: str) -> str:
    """Write `model` (a torch.nn.Module, in eval mode) for input `x` to `path`."""
    import torch

    try:
        model.eval()
        with warnings.catch_warnings(), torch.no_grad(), _torchlib_registry_reused():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (x,), str(path), dynamo=True, verbose=False)
    except Exception as e:
        raise OnnxExportError(f"{name}: {TORCH_EXPORTER} failed: {_first_line(e)}") from e
    return TORCH_EXPORTER


def _nodes(graph):
    """Every node of `graph` and of the subgraphs its nodes hold (Loop, If, Scan bodies)."""
    import onnx

    for node in graph.node:
        yield node
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                yield from _nodes(attribute.g)
            for sub in attribute.graphs:
                yield from _nodes(sub)


def graph_counts(path: Path) -> dict:
    """Node count, matmul count (MATMUL_OPS) and op histogram of the ONNX file at `path`."""
    import onnx

    model = onnx.load(str(path))
    ops = Counter(node.op_type for node in _nodes(model.graph))
    for function in model.functions:  # local functions are called from the graph: count their bodies too
        ops.update(node.op_type for node in function.node)
    return dict(nodes=sum(ops.values()), matmuls=sum(ops[o] for o in MATMUL_OPS), ops=ops)
