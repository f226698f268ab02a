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


def peak_gflops(framework: str, device: str) -> float:
    return (keras_peak_gflops if framework == "keras" else torch_peak_gflops)(device)
