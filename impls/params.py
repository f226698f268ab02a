"""Analytic parameter counts, with the formulas written out for people to read.

Below impls/spec.py: ModelSpec checks its sizes against MAX_PARAMETERS with model_params, so this
module reads a spec only by its fields (`spec` is a ModelSpec) and imports nothing from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def check_positive_int(name: str, value) -> int:
    """Return `value` if it is a positive int; raise ValueError naming `name` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def lstm_params(inputs: int, units: int, bias_vectors: int = 1) -> int:
    """Parameters of one LSTM layer: 4 gates x (input weights + bias + recurrent weights).

    `bias_vectors=1` is Keras's count, 4*((inputs+1)*units + units^2).
    `bias_vectors=2` is torch.nn.LSTM's default, which keeps `bias_ih` and `bias_hh`.
    """
    inputs = check_positive_int("inputs", inputs)
    units = check_positive_int("units", units)
    if isinstance(bias_vectors, bool) or bias_vectors not in (0, 1, 2):
        raise ValueError(f"bias_vectors must be 0, 1 or 2, got {bias_vectors!r}")
    return 4 * ((inputs + bias_vectors) * units + units**2)


def dense_params(inputs: int, units: int) -> int:
    return (check_positive_int("inputs", inputs) + 1) * check_positive_int("units", units)


@dataclass(frozen=True)
class LayerFormula:
    """One layer's analytic count, in Keras's (single-bias) convention."""

    layer: str  # the layer's name in both frameworks' models
    kind: str  # LSTM, Bidirectional(LSTM), Dense, Embedding, RepeatVector
    formula: str  # the formula with the numbers filled in
    count: int  # Keras's count
    torch_native_count: int  # the same layer in torch with both LSTM biases


def _lstm_formula(name, inputs, units, directions=1) -> LayerFormula:
    prefix = f"{directions}*" if directions > 1 else ""
    return LayerFormula(
        layer=name,
        kind="Bidirectional(LSTM)" if directions > 1 else "LSTM",
        formula=f"{prefix}4*(({inputs}+1)*{units} + {units}^2)",
        count=directions * lstm_params(inputs, units),
        torch_native_count=directions * lstm_params(inputs, units, bias_vectors=2),
    )


def _dense_formula(name, inputs, units) -> LayerFormula:
    count = dense_params(inputs, units)
    return LayerFormula(name, "Dense", f"({inputs}+1)*{units}", count, count)


def layer_formulas(spec: ModelSpec) -> list[LayerFormula]:
    """The analytic count of every layer with weights, in model order."""
    if spec.topology == "attention":
        lstm_out = 2 * spec.units
        embed = spec.vocab_size * spec.embedding_dim
        return [
            LayerFormula(
                "embedding", "Embedding", f"{spec.vocab_size}*{spec.embedding_dim}", embed, embed
            ),
            _lstm_formula("lstm", spec.embedding_dim, spec.units, directions=2),
            # Concatenate([h, context]) doubles the width the hidden head sees.
            _dense_formula("hidden", 2 * lstm_out, spec.dense_units),
            _dense_formula("head", spec.dense_units, spec.outputs),
        ]
    layers = [
        _lstm_formula("lstm", spec.features, spec.units),
        _dense_formula("head", spec.units, spec.outputs),
    ]
    if spec.repeats_input:  # a copy of the input at every step: shown, but it adds nothing
        repeat = LayerFormula("repeat", "RepeatVector", f"0 (input copied to {spec.timesteps} steps)", 0, 0)
        layers.insert(0, repeat)
    return layers


def model_params(spec: ModelSpec, bias_vectors: int = 1) -> int:
    """Whole-model count: Keras's (`bias_vectors=1`) or torch native's (2)."""
    layers = layer_formulas(spec)
    if bias_vectors == 1:
        return sum(layer.count for layer in layers)
    return sum(layer.torch_native_count for layer in layers)
