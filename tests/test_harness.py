"""The harness around one case: parity gate, compile paths that cannot run, rows."""

import time

import numpy as np
import pytest

from bench.suite import harness
from tests.helpers import case_of
from bench.suite.harness import CouldNotRun, ParityError, check_parity, prepare


def test_a_pair_that_differs_is_not_timed(references):
    case = case_of("many_to_one-torch-infer-cpu-seed")
    reference = references.get(case)
    assert check_parity(case, reference, reference.outputs["keras"]) == 0.0
    with pytest.raises(ParityError, match="differs from keras's on the same weights .* not timing"):
        check_parity(case, reference, reference.outputs["keras"] + 1e-3)


# The LSTM kernel each framework runs on the CPU without compile (Keras: per backend).
KERAS_CPU_KERNEL = {
    "tensorflow": "tf.while_loop of LSTM cells, tf.function graph",
    "jax": "lax.scan of LSTM cells, op by op, no jax.jit",
    "torch": "Python loop: one input matmul, then a recurrent matmul per step, eager",
}


def torch_cpu_kernel():
    import torch

    # torch's CPU LSTM runs oneDNN's fused layer where torch was built with it
    return "oneDNN LSTM (aten::mkldnn_rnn_layer)" if torch.backends.mkldnn.is_available() else "ATen LSTM cell loop"


def steady_call_s(call, n=5) -> float:
    """The fastest of `n` calls after warm-up: what a call costs once nothing is left to build."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


@pytest.mark.parametrize("case_id", [
    "many_to_many-keras-dense3d-infer-cpu-seed", "many_to_many-torch-loop-infer-cpu-seed",
    "many_to_many-torch-broadcast-train-cpu-seed",
])
def test_prepare_checks_parity_names_the_kernel_and_times_the_first_call(references, case_id):
    import keras

    case = case_of(case_id)
    start = time.perf_counter()
    prepared = prepare(case, references.get(case))
    prepare_s = time.perf_counter() - start
    assert prepared.max_abs_diff <= 1e-5
    expected = KERAS_CPU_KERNEL[keras.backend.backend()] if case.framework == "keras" else torch_cpu_kernel()
    assert prepared.kernel == expected
    # the first call is one call inside prepare: timed, and no longer than prepare itself
    assert 0 < prepared.first_call_s < prepare_s
    out = prepared.call()
    if case.mode == "infer":
        assert np.asarray(out).shape == case.spec.output_shape(case.size.batch) == (1, 5, 1)
    else:
        assert np.isfinite(out)


def test_keras_first_call_includes_building_its_graph(references):
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the tf.function trace is TensorFlow's; other backends run this case op by op")
    case = case_of("many_to_one-keras-infer-cpu-seed")
    prepared = prepare(case, references.get(case))
    # tracing the predict function costs far more than running it (about 200x in the quick fixture)
    assert prepared.first_call_s > 5 * steady_call_s(prepared.call)


def test_a_compile_path_that_fails_becomes_could_not_run(references, monkeypatch):
    case = case_of("many_to_one-torch-train-cpu-jit-seed", compile="on")
    real_build = harness.build_runner

    def build_failing(case, reference, **options):
        runner = real_build(case, reference, **options)
        runner._step = lambda x, y: (_ for _ in ()).throw(RuntimeError("inductor: no C++ compiler\nmore"))
        return runner

    monkeypatch.setattr(harness, "build_runner", build_failing)
    with pytest.raises(CouldNotRun, match=r"^RuntimeError: inductor: no C\+\+ compiler$"):
        prepare(case, references.get(case))


def test_a_failure_without_compile_is_a_failure(references, monkeypatch):
    case = case_of("many_to_one-torch-train-cpu-seed")
    real_build = harness.build_runner

    def build_failing(case, reference, **options):
        runner = real_build(case, reference, **options)
        runner.train_step = lambda x, y: 1 / 0
        return runner

    monkeypatch.setattr(harness, "build_runner", build_failing)
    with pytest.raises(ZeroDivisionError):
        prepare(case, references.get(case))


def test_each_compiled_case_compiles_its_own_graph(references):
    """torch.compile must not hand a case the graph an earlier case compiled (first_call_s would lie)."""
    from torch._dynamo.utils import counters

    case = case_of("many_to_many-torch-broadcast-infer-cpu-jit-seed", compile="on")
    prepare(case, references.get(case))
    before = counters["stats"]["unique_graphs"]
    prepare(case, references.get(case))  # the same model class and shapes
    assert counters["stats"]["unique_graphs"] > before
