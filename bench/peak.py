"""The machine's float32 matmul rate, measured through each framework with the run's threads.

A square GEMM large enough to saturate the cores; the best of a few repeats
(the best, not the median: this is the ceiling a model could reach).
"""

from __future__ import annotations

import time

PEAK_SIZE = {"cpu": 1024, "cuda": 8192}
REPEATS = 7


def _best_rate(call, n: int) -> float:
    call()  # warm-up: allocation, compilation
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def torch_peak_gflops(device: str) -> float:
    import torch

    n = PEAK_SIZE[device]
    a = torch.rand(n, n, device=device)
    b = torch.rand(n, n, device=device)

    def call():
        a @ b
        if device == "cuda":
            torch.cuda.synchronize()

    return _best_rate(call, n)


def keras_peak_gflops(device: str) -> float:
    """Through the Keras backend's own matmul (jit-compiled where the backend compiles)."""
    import keras
    import numpy as np

    n = PEAK_SIZE[device]
    from impls.runners import keras_device_name

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

        return _best_rate(call, n)


def onnxruntime_peak_gflops(device: str) -> float:
    """One ONNX MatMul node in a session with the suite's threads (impls/onnx_runner.py)."""
    import tempfile
    from pathlib import Path

    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    from impls.onnx_runner import _threads, open_session

    n = PEAK_SIZE[device]
    io = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [n, n]) for name in "abc"]
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "peak", io[:2], io[2:])
    rng = np.random.default_rng(0)
    a, b = (rng.random((n, n), dtype=np.float32) for _ in range(2))
    with tempfile.TemporaryDirectory(prefix="tdbench-onnx-") as directory:
        path = Path(directory) / "matmul.onnx"
        onnx.save(helper.make_model(graph), str(path))
        session = open_session(path, "peak MatMul", "onnx.helper", device, _threads(None))
        return _best_rate(lambda: session.run(None, {"a": a, "b": b}), n)


def peak_gflops(framework: str, device: str) -> float:
    if framework == "onnxruntime":
        return onnxruntime_peak_gflops(device)
    return (keras_peak_gflops if framework == "keras" else torch_peak_gflops)(device)
