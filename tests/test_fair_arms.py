"""Both arms do the same work: compile scope, end state of a call, loss, and a gate on the timed step."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from bench.suite import harness
from tests.helpers import case_of
from bench.suite.harness import (
    ParityError, check_loss, check_train_gate, compiler_label, prepare, run_counted,
)
from impls import ModelSpec
from impls.contract import runner_class

KerasRunner, TorchRunner = runner_class("keras"), runner_class("torch")  # the per-model parts, through the registry


def test_both_infer_arms_end_with_a_host_array():
    spec = ModelSpec.seed("many_to_many")
    x = spec.example_inputs(2)
    for runner in (KerasRunner(spec), TorchRunner(spec)):
        out = runner.infer(runner.put(x)[0])
        assert type(out) is np.ndarray and out.shape == (2, 5, 1), runner.framework


def test_torch_compiles_the_whole_train_step():
    """Forward, loss, backward and optimizer.step in one torch.compile'd function, as XLA does."""
    import torch

    spec = ModelSpec.seed("many_to_many")
    runner = TorchRunner(spec, compile=True)
    assert runner._step._torchdynamo_orig_callable == runner._forward_backward_update
    x, y = runner.put(spec.example_inputs(2), spec.example_targets(2))
    explained = torch._dynamo.explain(runner._forward_backward_update)(x, y)
    code = "\n".join(graph.code for graph in explained.graphs)
    assert "mse_loss" in code  # the loss is in a graph
    assert "sqrt" in code  # and so is Adam's update
    # The compiled step computes what the eager one does (SGD: Adam would amplify float noise).
    torch._dynamo.reset()
    compiled, eager = TorchRunner(spec, compile=True, optimizer="sgd"), TorchRunner(spec, optimizer="sgd")
    eager.model.load_state_dict(compiled.model.state_dict())
    for _ in range(3):
        assert compiled.train_step(x, y) == pytest.approx(eager.train_step(x, y), rel=1e-6)
    for a, b in zip(compiled.model.parameters(), eager.model.parameters()):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), atol=1e-6)


def test_keras_cross_entropy_is_computed_from_probabilities_like_torch():
    """On TensorFlow, Keras's own loss would read the logits off a softmax output; ours must not."""
    import keras
    import torch

    from impls.keras_losses import keras_loss
    from impls.torch_losses import torch_loss

    logits = np.array([[[30.0, -30.0, 0.0]]], np.float32)  # p(true class) underflows to ~0
    target = np.array([[[0.0, 1.0, 0.0]]], np.float32)
    probs = keras.ops.softmax(keras.ops.convert_to_tensor(logits), axis=-1)
    ours = float(keras.ops.convert_to_numpy(keras_loss("categorical_crossentropy")(target, probs)))
    theirs = float(torch_loss("categorical_crossentropy")(
        torch.softmax(torch.from_numpy(logits), -1), torch.from_numpy(target)))
    assert ours == pytest.approx(theirs, rel=1e-6)
    assert ours == pytest.approx(-np.log(1e-7), rel=1e-4)  # clipped probability, not logits (60)


def test_the_train_gate_passes_a_pair_and_catches_a_wrong_gradient(references):
    case = case_of("many_to_many-torch-loop-train-cpu-seed")
    reference = references.get(case)
    runner = harness.build_runner(case, reference)
    x, y = runner.put(reference.x, reference.y)
    loss_diff, weight_diff = check_train_gate(case, reference, x, y)
    assert loss_diff <= 1e-5 and weight_diff <= 1e-5
    good = reference.stepped["keras"]
    reference.stepped["keras"] = [w + 1e-3 for w in good]
    try:
        with pytest.raises(ParityError, match="weights after one SGD step .* gradients are not the same"):
            check_train_gate(case, reference, x, y)
    finally:
        reference.stepped["keras"] = good


def test_a_default_head_case_takes_its_gate_step_from_the_reference(references, monkeypatch):
    """The reference already stepped each framework's default-head, uncompiled runner: a case with that
    very step function is gated on that step (no second build), and still caught when the pair differs."""
    case = case_of("many_to_many-keras-timedistributed-train-cpu-seed")
    reference = references.get(case)
    runner = harness.build_runner(case, reference)
    x, y = runner.put(reference.x, reference.y)
    built = []
    monkeypatch.setattr(harness, "build_runner", lambda *a, **k: built.append(a) or pytest.fail("built again"))
    loss_diff, weight_diff = check_train_gate(case, reference, x, y)
    assert not built and loss_diff <= 1e-5 and weight_diff <= 1e-5
    good = reference.stepped["torch"]
    reference.stepped["torch"] = [w + 1e-3 for w in good]
    try:
        with pytest.raises(ParityError, match="weights after one SGD step .* gradients are not the same"):
            check_train_gate(case, reference, x, y)
    finally:
        reference.stepped["torch"] = good
    # Another head, or the compiled step, is another step function: built and stepped on its own.
    for other, compile in (("many_to_many-keras-dense3d-train-cpu-seed", "off"),
                           ("many_to_many-keras-timedistributed-train-cpu-jit-seed", "on")):
        other_case = case_of(other, compile)
        assert reference.gate_steps["keras"] != harness.gate_step_key(
            other_case.spec, other_case.build_head, other_case.compile == "on")


def test_a_loss_that_differs_is_not_timed(references):
    case = case_of("attention-keras-dense3d-train-cpu-seed")
    reference = references.get(case)
    assert check_loss(case, reference, reference.losses["torch"]) == 0.0
    with pytest.raises(ParityError, match="loss .* differs from torch's"):
        check_loss(case, reference, reference.losses["torch"] * (1 + 1e-3))


def test_prepare_gates_train_cases_and_counts_compilations(references):
    case = case_of("attention-keras-timedistributed-train-cpu-seed")
    prepared = prepare(case, references.get(case))
    assert prepared.loss_rel_diff is not None and prepared.loss_rel_diff <= 1e-5
    run_counted(prepared, lambda call: [call() for _ in range(3)])
    assert prepared.call.calls == 3  # only the calls handed to the timing loop
    assert prepared.compiles_per_call == 0  # a tf.function graph traced once, before the timed calls
    assert compiler_label(prepared) == "tf.function"
    prepared.compiles_per_call = 2.0  # what Keras on JAX without jax.jit measures
    assert compiler_label(prepared) == "tf.function, recompiles every call (2 compilations per call)"


def test_the_compile_counter_sees_a_retrace():
    spec = ModelSpec.seed("many_to_one")
    runner = KerasRunner(spec)
    runner.train_step(*runner.put(spec.example_inputs(1), spec.example_targets(1)))
    before = runner.compile_count()
    runner.train_step(*runner.put(spec.example_inputs(1), spec.example_targets(1)))
    assert runner.compile_count() == before
    runner.train_step(*runner.put(spec.example_inputs(3), spec.example_targets(3)))  # a new shape
    assert runner.compile_count() > before


@pytest.mark.slow
def test_keras_on_jax_without_jit_recompiles_every_call():
    """What the compile-off JAX slice is labelled with, measured in a fresh process."""
    script = textwrap.dedent("""
        import os
        os.environ["KERAS_BACKEND"] = "jax"
        from impls import ModelSpec
        from impls.contract import runner_class
        KerasRunner = runner_class("keras")
        spec = ModelSpec.seed("one_to_one")
        for jit in (False, True):
            r = KerasRunner(spec, compile=jit)
            x = r.put(spec.example_inputs(5))[0]
            r.infer(x)
            before = r.compile_count()
            for _ in range(3):
                r.infer(x)
            print(jit, r.compile_count() - before)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    counts = dict(line.split() for line in out.stdout.strip().splitlines()[-2:])
    assert int(counts["False"]) >= 3  # at least one compilation per call
    assert int(counts["True"]) == 0
