"""The LSTM parameter formula, checked against a count of its weight arrays, and that layout against both frameworks."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from impls import TOPOLOGIES, ModelSpec, build_keras, build_torch, lstm_params, model_params, trainable_params

sizes = st.integers(min_value=1, max_value=4096)


def lstm_weight_shapes(inputs, units, bias_vectors=1):
    """Each weight array of one LSTM layer, laid out as Keras stores it (4 gates side by side)."""
    return [(inputs, 4 * units), (units, 4 * units)] + [(4 * units,)] * bias_vectors


def counted(shapes):
    """Parameters counted by multiplying out each array's shape, not by the closed formula."""
    return sum(int(np.prod(shape)) for shape in shapes)


def test_formula_by_hand():
    assert lstm_params(1, 5) == 4 * ((1 + 1) * 5 + 5**2) == 140
    assert lstm_params(1, 5, bias_vectors=2) == 160


# The formula against a count of the weight arrays, over the whole size range (pure Python: fast).
@settings(max_examples=300, deadline=None)
@given(inputs=sizes, units=sizes, bias_vectors=st.sampled_from([0, 1, 2]))
def test_formula_counts_every_weight_array(inputs, units, bias_vectors):
    assert lstm_params(inputs, units, bias_vectors) == counted(lstm_weight_shapes(inputs, units, bias_vectors))


# The weight layout above against the frameworks' real layers, at a handful of sizes:
# one of each, the seed's, inputs wider than units, and units wider than inputs.
FRAMEWORK_SIZES = [(1, 1), (1, 5), (96, 7), (3, 64)]


@pytest.mark.parametrize("inputs, units", FRAMEWORK_SIZES)
def test_keras_layers_hold_exactly_those_arrays(inputs, units):
    import keras

    layer = keras.layers.LSTM(units)
    layer.build((None, 3, inputs))
    assert [tuple(w.shape) for w in layer.weights] == lstm_weight_shapes(inputs, units)
    assert layer.count_params() == lstm_params(inputs, units)
    both = keras.layers.Bidirectional(keras.layers.LSTM(units))
    both.build((None, 3, inputs))
    assert both.count_params() == 2 * lstm_params(inputs, units)


@pytest.mark.parametrize("inputs, units", FRAMEWORK_SIZES)
def test_torch_layers_hold_exactly_those_arrays_with_a_second_bias(inputs, units):
    import torch

    lstm = torch.nn.LSTM(inputs, units)
    # torch stores each matrix transposed: (4 * units, inputs), and two bias vectors.
    assert [tuple(p.shape)[::-1] for p in lstm.parameters()] == lstm_weight_shapes(inputs, units, bias_vectors=2)
    assert sum(p.numel() for p in lstm.parameters()) == lstm_params(inputs, units, bias_vectors=2)
    both = torch.nn.LSTM(inputs, units, bidirectional=True)
    assert sum(p.numel() for p in both.parameters()) == 2 * lstm_params(inputs, units, bias_vectors=2)


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
