"""The machine's float32 matmul rate, measured through each framework with the run's threads.

A square GEMM large enough to saturate the cores, timed REPEATS times: the
median rate is the peak (the machine as the cases meet it, not its one best
moment), and the spread (IQR / median of the rates) is recorded beside it. A
run measures it before a framework's first case and again at the end
(bench/session.py); environment.json keeps both, so a machine that changed
during the run shows.
"""

from __future__ import annotations

import statistics
import time

PEAK_SIZE = {"cpu": 1024, "cuda": 8192}
REPEATS = 7


def rate_summary(rates: list[float]) -> dict:
    """Median GFLOP/s of the repeats, their spread (IQR / median), and the rates themselves."""
    q1, _, q3 = statistics.quantiles(rates, n=4, method="inclusive")
    median = statistics.median(rates)
    return {"median": median, "spread": (q3 - q1) / median, "min": min(rates), "max": max(rates), "rates": rates}


def _rates(call, n: int) -> dict:
    call()  # warm-up: allocation, compilation
    rates = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        call()
        rates.append(2 * n**3 / (time.perf_counter() - start) / 1e9)
    return rate_summary(rates)


def summarise(peaks: dict) -> dict:
    """{"start": summary, "end": summary} -> what environment.json records (drift: end / start - 1)."""
    out = {f"{when}_{field}": peaks[when][field] for when in ("start", "end") if when in peaks
           for field in ("median", "spread", "min", "max")}
    if "start" in peaks and "end" in peaks:
        out["drift"] = peaks["end"]["median"] / peaks["start"]["median"] - 1
    return out


def torch_peak_gflops(device: str) -> dict:
    import torch

    n = PEAK_SIZE[device]
    a = torch.rand(n, n, device=device)
    b = torch.rand(n, n, device=device)

    def call():
        a @ b
        if device == "cuda":
            torch.cuda.synchronize()

    return _rates(call, n)


def keras_peak_gflops(device: str) -> dict:
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

        return _rates(call, n)


def onnxruntime_peak_gflops(device: str) -> dict:
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
        return _rates(lambda: session.run(None, {"a": a, "b": b}), n)


def peak_gflops(framework: str, device: str) -> dict:
    """rate_summary of the framework's GEMM on `device`."""
    if framework == "onnxruntime":
        return onnxruntime_peak_gflops(device)
    return (keras_peak_gflops if framework == "keras" else torch_peak_gflops)(device)
