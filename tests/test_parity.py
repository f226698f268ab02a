"""Each Keras model and its PyTorch twin are one model: outputs, gradients, training.

Sizes: bench.analysis.parity.PARITY_CASES (the seed's, and a larger case per topology).
Bounds: bench.analysis.tolerances.TOLERANCES.
"""

import numpy as np
import pytest

from bench.analysis.parity import (
    PARITY_CASES,
    TOLERANCES,
    adam_tolerance,
    forward_diff,
    gradient_diff,
    training_diffs,
)
from bench.analysis.tolerances import TRAINING_STEPS
from impls import KERAS_HEADS, TORCH_HEADS
from impls.contract import runner_class

KerasRunner, TorchRunner = runner_class("keras"), runner_class("torch")  # the per-model parts, through the registry

CASES = list(PARITY_CASES)
LSTM_CASES = [c for c in CASES if not c.startswith("attention")]
ATTENTION_CASES = [c for c in CASES if c.startswith("attention")]


@pytest.mark.parametrize("direction", ["keras_to_torch", "torch_to_keras"])
@pytest.mark.parametrize("case", CASES)
def test_forward_outputs_equal(case, direction):
    spec, batch = PARITY_CASES[case]
    for keras_head in KERAS_HEADS:
        for torch_head in TORCH_HEADS:
            diff = forward_diff(spec, batch, keras_head, torch_head, direction)
            assert diff <= TOLERANCES["forward"], (keras_head, torch_head, diff)


@pytest.mark.parametrize("case", CASES)
def test_gradients_equal_for_every_weight(case):
    spec, batch = PARITY_CASES[case]
    diffs = gradient_diff(spec, batch, "timedistributed", "loop")
    assert diffs and max(diffs.values()) <= TOLERANCES["gradient"], diffs


@pytest.mark.parametrize("case", CASES)
def test_twenty_sgd_steps_stay_together(case):
    spec, batch = PARITY_CASES[case]
    diffs = training_diffs(spec, batch, "timedistributed", "loop", ("sgd",))["sgd"]
    assert max(diffs.values()) <= TOLERANCES["sgd"], diffs


@pytest.fixture(scope="module")
def adam_diffs():
    """Both torch Adam rules against one Keras Adam trajectory, per case (computed once)."""
    cache = {}

    def get(case):
        if case not in cache:
            spec, batch = PARITY_CASES[case]
            cache[case] = training_diffs(spec, batch, "timedistributed", "loop", ("adam", "keras_adam"))
        return cache[case]

    return get


@pytest.mark.parametrize("case", LSTM_CASES)
def test_keras_adam_rule_follows_keras(case, adam_diffs):
    diffs = adam_diffs(case)["keras_adam"]
    assert max(diffs.values()) <= TOLERANCES["keras_adam"], diffs


@pytest.mark.parametrize("case", [c for c in LSTM_CASES if c.endswith("-large")])
def test_torch_adam_with_equal_hyperparameters_does_not(case, adam_diffs):
    diffs = adam_diffs(case)
    # torch.optim.Adam leaves the bound, and is far further off than Keras's rule.
    assert diffs["adam"][TRAINING_STEPS] > TOLERANCES["keras_adam"], diffs
    assert diffs["adam"][TRAINING_STEPS] > 100 * diffs["keras_adam"][TRAINING_STEPS], diffs


@pytest.mark.parametrize("case", ATTENTION_CASES)
@pytest.mark.parametrize("rule", ["adam", "keras_adam"])
def test_attention_adam_drift_is_bounded(case, rule, adam_diffs, record_property):
    diffs = adam_diffs(case)[rule]
    assert sorted(diffs) == [1, 5, 10, 20]
    for step, diff in diffs.items():
        record_property(f"{rule}_step{step}", diff)  # the drift, kept in junit reports
        bound = adam_tolerance("attention", rule, step)
        assert bound is None or diff <= bound, (step, diff)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("framework, heads", [("keras", KERAS_HEADS), ("torch", TORCH_HEADS)])
def test_head_variants_give_the_same_numbers(case, framework, heads):

    spec, batch = PARITY_CASES[case]
    Runner = KerasRunner if framework == "keras" else TorchRunner
    first, second = (Runner(spec, head) for head in heads)
    if framework == "keras":
        second.model.set_weights(first.model.get_weights())
    else:
        second.model.load_state_dict(first.model.state_dict())
    x = spec.example_inputs(batch)
    a, b = first.forward(first.put(x)[0]), second.forward(second.put(x)[0])
    assert np.max(np.abs(a - b)) <= TOLERANCES["forward"]
