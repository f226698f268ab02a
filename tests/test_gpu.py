"""The GPU paths: parity of each pair on CUDA. Skipped, with the reason, where there is no GPU."""

import numpy as np
import pytest

from bench.harness import PARITY_TOLERANCE, device_unavailable, use_full_float32
from bench.parity import PARITY_CASES
from impls import copy_weights
from impls.runners import KerasRunner, TorchRunner


def require_gpu(framework):
    reason = device_unavailable(framework, "cuda")
    if reason:
        pytest.skip(reason)


@pytest.mark.parametrize("case", ["many_to_many-large", "attention-large"])
def test_pairs_agree_on_the_gpu(case):
    require_gpu("torch")
    require_gpu("keras")
    use_full_float32("cuda")
    spec, batch = PARITY_CASES[case]
    k = KerasRunner(spec, device="cuda")
    t = TorchRunner(spec, device="cuda")
    copy_weights(k.model, t.model)
    x = spec.example_inputs(batch)
    diff = np.abs(k.forward(k.put(x)[0]) - t.forward(t.put(x)[0])).max()
    assert diff <= PARITY_TOLERANCE["cuda"]


def test_torch_trains_on_the_gpu():
    require_gpu("torch")
    spec, batch = PARITY_CASES["many_to_many-large"]
    t = TorchRunner(spec, device="cuda")
    x, y = t.put(spec.example_inputs(batch), spec.example_targets(batch))
    assert x.is_cuda and y.is_cuda
    first = t.train_step(x, y)
    for _ in range(20):
        last = t.train_step(x, y)
    assert last < first
    assert "cuDNN" in t.kernel(x)
