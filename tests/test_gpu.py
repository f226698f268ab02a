"""The GPU paths: parity of each pair on CUDA. Skipped, with the reason, where there is no GPU."""

import pytest

from bench.suite.harness import PARITY_TOLERANCE, device_unavailable, use_full_float32
from bench.analysis.parity import PARITY_CASES, forward_diff
from impls import DEFAULT_KERAS_HEAD, DEFAULT_TORCH_HEAD
from impls.contract import runner_class

TorchRunner = runner_class("torch")


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
    diff = forward_diff(spec, batch, DEFAULT_KERAS_HEAD, DEFAULT_TORCH_HEAD, device="cuda")
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


def test_forward_diff_builds_both_models_on_the_device_it_is_given(monkeypatch):
    """Runs without a GPU: the device reaches both runners (the parity test above relies on it)."""
    from bench.analysis import parity

    seen = []
    real = parity.make_runner

    def recording(framework, spec, head, **options):  # the registry, as parity reaches it
        seen.append((framework, options.get("device")))
        return real(framework, spec, head, **{**options, "device": "cpu"})

    monkeypatch.setattr(parity, "make_runner", recording)
    spec, batch = PARITY_CASES["many_to_one-seed"]
    assert forward_diff(spec, batch, DEFAULT_KERAS_HEAD, DEFAULT_TORCH_HEAD, device="cuda") <= PARITY_TOLERANCE["cpu"]
    assert seen == [("keras", "cuda"), ("torch", "cuda")]
