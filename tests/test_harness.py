"""The harness around one case: parity gate, compile paths that cannot run, rows."""

import numpy as np
import pytest

from bench import harness
from tests.helpers import case_of
from bench.harness import CouldNotRun, ParityError, check_parity, prepare


def test_a_pair_that_differs_is_not_timed(references):
    case = case_of("many_to_one-torch-infer-cpu-seed")
    reference = references.get(case)
    assert check_parity(case, reference, reference.outputs["keras"]) == 0.0
    with pytest.raises(ParityError, match="differs from keras's on the same weights .* not timing"):
        check_parity(case, reference, reference.outputs["keras"] + 1e-3)


def test_prepare_checks_parity_and_times_the_first_call(references):
    case = case_of("many_to_many-keras-dense3d-infer-cpu-seed")
    prepared = prepare(case, references.get(case))
    assert prepared.max_abs_diff <= 1e-5 and prepared.first_call_s > 0
    assert "tf.function" in prepared.kernel or "lax.scan" in prepared.kernel or "loop" in prepared.kernel
    out = prepared.call()
    assert np.asarray(out).shape == (1, 5, 1)


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
