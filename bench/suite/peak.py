"""The machine's float32 matmul rate, measured through each framework with the run's threads.

Each runtime's Framework part supplies the GEMM (impls/contract.py `gemm`): torch's `a @ b`, the Keras
backend's `keras.ops.matmul` (jax.jit on JAX), one ONNX MatMul node in a session.

A square GEMM large enough to saturate the cores, timed REPEATS times: the
median rate is the peak (the machine as the cases meet it, not its one best
moment), and the spread (IQR / median of the rates) is recorded beside it. A
run measures it before a framework's first case and again at the end
(bench/suite/session.py); environment.json keeps both, so a machine that changed
during the run shows.
"""

from __future__ import annotations

import statistics
import time
from impls.contract import framework_class

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


def peak_gflops(framework: str, device: str) -> dict:
    """rate_summary of the framework's GEMM on `device` (its Framework part's `gemm`, impls/contract.py)."""
    n = PEAK_SIZE[device]
    with framework_class(framework).gemm(device, n) as call:
        return _rates(call, n)
