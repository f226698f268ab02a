"""bench/analysis/flops.py against counts worked out by hand for sizes small enough to check on paper."""

import pytest

from bench.analysis.flops import attention_flops, case_flops, dense_flops, forward_flops, lstm_step_flops
from impls import ModelSpec


def test_lstm_step_inputs_1_units_5():
    # Four gates of 5 units: 20 pre-activations per step.
    x_matmul = 2 * 1 * 20  # (1 x 1) @ (1 x 20)
    h_matmul = 2 * 5 * 20  # (1 x 5) @ (5 x 20)
    bias = 20
    activations = 15 + 5 + 5  # sigmoid on i, f, o; tanh on g; tanh on the new c
    cell = 5 + 5 + 5 + 5  # f*c, i*g, their sum, o*tanh(c)
    assert x_matmul + h_matmul + bias + activations + cell == 305
    assert lstm_step_flops(1, 5) == 305


@pytest.mark.parametrize(
    "inputs, units, activation, expected",
    [
        (5, 1, None, 2 * 5 + 1),  # the seed's Dense(1): 5 products, 5 sums, 1 bias
        (5, 3, "relu", 2 * 5 * 3 + 3 + 3),
        (16, 10, "softmax", 2 * 16 * 10 + 10 + 3 * 10),  # softmax: exp, sum, divide per output
    ],
)
def test_dense(inputs, units, activation, expected):
    assert dense_flops(inputs, units, activation) == expected


def test_attention_two_steps_width_3():
    scores = 4 * (2 * 3)  # (2 x 3) @ (3 x 2): 4 outputs, 3 products and 3 sums each
    softmax = 3 * 4  # exp, sum, divide over the 2 x 2 scores
    context = 6 * (2 * 2)  # (2 x 2) @ (2 x 3): 6 outputs, 2 products and 2 sums each
    assert attention_flops(2, 3) == scores + softmax + context == 60


@pytest.mark.parametrize(
    "topology, batch, expected",
    [
        ("many_to_many", 1, 5 * 305 + 5 * 11),  # 5 LSTM steps, Dense(1) at each step
        ("many_to_one", 1, 5 * 305 + 55),  # 5 LSTM steps, Dense(5 -> 5) once
        ("one_to_one", 5, 5 * (305 + 11)),  # 5 samples of one step each
        ("one_to_many", 1, 5 * 305 + 5 * 11),  # the repeat is a free copy; then as many_to_many
    ],
)
def test_seed_models_forward(topology, batch, expected):
    assert forward_flops(ModelSpec.seed(topology), batch) == expected


def test_attention_model_forward():
    spec = ModelSpec("attention", timesteps=2, vocab_size=7, embedding_dim=1, units=1, dense_units=1, outputs=2)
    lstm_step = (2 * 1 * 4) + (2 * 1 * 4) + 4 + (3 + 1 + 1) + 4  # inputs=1, units=1: 29
    lstm = 2 * 2 * lstm_step  # two directions, two steps; the embedding lookup is free
    attention = 16 + 12 + 16  # width 2 (both directions): scores, softmax, context
    hidden = 2 * (2 * 4 * 1 + 1 + 1)  # per step: Dense(4 -> 1) on [h, context], relu
    head = 2 * (2 * 1 * 2 + 2 + 3 * 2)  # per step: Dense(1 -> 2), softmax
    assert lstm_step == 29
    assert forward_flops(spec, batch=3) == 3 * (lstm + attention + hidden + head) == 3 * 204


def test_train_is_three_forwards_and_twelve_per_parameter():
    spec = ModelSpec.seed("many_to_many")  # 146 trainable parameters (Keras's count)
    assert case_flops(spec, 1, "infer", 146) == 1580
    assert case_flops(spec, 1, "train", 146) == 3 * 1580 + 12 * 146


def test_unknown_mode_is_an_error():
    with pytest.raises(ValueError, match="mode must be train or infer"):
        case_flops(ModelSpec.seed("many_to_many"), 1, "predict", 146)
