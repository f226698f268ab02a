"""The LSTM parameter formula, checked against both frameworks' own counts."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from impls import TOPOLOGIES, ModelSpec, build_keras, build_torch, lstm_params, model_params, trainable_params

sizes = st.integers(min_value=1, max_value=96)


def keras_lstm_count(inputs, units, bidirectional=False):
    import keras

    layer = keras.layers.LSTM(units)
    if bidirectional:
        layer = keras.layers.Bidirectional(layer)
    layer.build((None, 3, inputs))
    return layer.count_params()


def torch_lstm_count(inputs, units, bidirectional=False):
    import torch

    lstm = torch.nn.LSTM(inputs, units, bidirectional=bidirectional)
    return sum(p.numel() for p in lstm.parameters())


def test_formula_by_hand():
    assert lstm_params(1, 5) == 4 * ((1 + 1) * 5 + 5**2) == 140
    assert lstm_params(1, 5, bias_vectors=2) == 160


@settings(max_examples=120, deadline=None)
@given(inputs=sizes, units=sizes)
def test_formula_matches_keras_and_torch(inputs, units):
    assert keras_lstm_count(inputs, units) == lstm_params(inputs, units)
    assert torch_lstm_count(inputs, units) == lstm_params(inputs, units, bias_vectors=2)


@settings(max_examples=30, deadline=None)
@given(inputs=sizes, units=sizes)
def test_bidirectional_doubles(inputs, units):
    assert keras_lstm_count(inputs, units, bidirectional=True) == 2 * lstm_params(inputs, units)
    assert torch_lstm_count(inputs, units, bidirectional=True) == 2 * lstm_params(inputs, units, 2)


@pytest.mark.parametrize(
    "args, field",
    [(dict(inputs=0, units=5), "inputs"), (dict(inputs=1, units=-1), "units"),
     (dict(inputs=1, units=5, bias_vectors=3), "bias_vectors")],
)
def test_formula_rejects_bad_sizes(args, field):
    with pytest.raises(ValueError, match=f"^{field} must be"):
        lstm_params(**args)


@pytest.mark.parametrize(
    "topology, expected", [("one_to_one", 146), ("many_to_one", 170), ("many_to_many", 146), ("one_to_many", 146)]
)
def test_seed_models_have_the_seeds_counts(topology, expected):
    spec = ModelSpec.seed(topology)
    assert build_keras(spec).count_params() == expected
    assert trainable_params(build_torch(spec)) == expected  # Keras-compatible torch
    assert model_params(spec) == expected


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_whole_models_match_their_formulas(topology):
    spec = ModelSpec.seed(topology) if topology != "attention" else ModelSpec(
        "attention", timesteps=9, vocab_size=130, embedding_dim=12, units=33, dense_units=20, outputs=6
    )
    native = build_torch(spec, torch_bias="native")
    assert build_keras(spec).count_params() == model_params(spec)
    assert trainable_params(build_torch(spec)) == model_params(spec)
    assert trainable_params(native) == model_params(spec, bias_vectors=2)
    # The frozen bias_hh is still there, just not trained: torch's total is native's.
    assert sum(p.numel() for p in build_torch(spec).parameters()) == model_params(spec, bias_vectors=2)


def test_repeat_vector_adds_no_parameters():
    """one_to_many counts as many_to_many of the same sizes: RepeatVector has no weights."""
    from impls import layer_formulas

    spec = ModelSpec("one_to_many", timesteps=30, features=4, units=40, outputs=3)
    assert [(f.layer, f.count) for f in layer_formulas(spec)] == [("repeat", 0), ("lstm", 7200), ("head", 123)]
    assert build_keras(spec).get_layer("repeat").count_params() == 0
    assert model_params(spec) == model_params(ModelSpec("many_to_many", timesteps=30, features=4, units=40, outputs=3))
