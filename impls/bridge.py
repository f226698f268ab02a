"""The weight bridge: which Keras variable is which torch parameter, and copying both ways.

Layers carry the same names on both sides (`embedding`, `repeat`, `lstm`, `hidden`,
`head`). Gate order is i, f, c, o in both frameworks, so an LSTM maps by
transposition; Keras's one bias is torch's `bias_ih + bias_hh`.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import torch
from torch import nn

from .params import layer_formulas
from .spec import ModelSpec


@dataclass
class WeightPair:
    """One Keras variable and the torch parameter holding the same numbers."""

    name: str  # e.g. "lstm.forward.kernel"
    keras: keras.Variable
    torch: nn.Parameter
    transpose: bool  # Keras stores (inputs, outputs); torch (outputs, inputs)
    folded_bias: nn.Parameter | None = None  # torch's bias_hh, summed into Keras's bias

    def keras_to_torch(self) -> None:
        value = keras.ops.convert_to_numpy(self.keras.value)
        with torch.no_grad():
            self.torch.copy_(torch.from_numpy(value.T if self.transpose else value))
            if self.folded_bias is not None:
                self.folded_bias.zero_()

    def torch_to_keras(self) -> None:
        with torch.no_grad():
            value = self.torch.detach()
            if self.folded_bias is not None:
                value = value + self.folded_bias.detach()
            value = value.cpu().numpy()
        self.keras.assign(value.T if self.transpose else value)

    def torch_grad_as_keras(self) -> np.ndarray:
        """The torch gradient in Keras's layout (bias_hh's gradient equals bias_ih's)."""
        grad = self.torch.grad.detach().cpu().numpy()
        return grad.T if self.transpose else grad


def _unwrap(layer):
    return layer.layer if isinstance(layer, keras.layers.TimeDistributed) else layer


def _torch_linear(module):
    return module if isinstance(module, nn.Linear) else module.linear


def _lstm_pairs(prefix, keras_lstm, torch_lstm, suffix):
    cell = keras_lstm.cell
    return [
        WeightPair(f"{prefix}.kernel", cell.kernel, getattr(torch_lstm, f"weight_ih_l0{suffix}"), True),
        WeightPair(
            f"{prefix}.recurrent_kernel",
            cell.recurrent_kernel,
            getattr(torch_lstm, f"weight_hh_l0{suffix}"),
            True,
        ),
        WeightPair(
            f"{prefix}.bias",
            cell.bias,
            getattr(torch_lstm, f"bias_ih_l0{suffix}"),
            False,
            getattr(torch_lstm, f"bias_hh_l0{suffix}"),
        ),
    ]


def weight_pairs(keras_model: keras.Model, torch_model: nn.Module) -> list[WeightPair]:
    """Every weight of the pair, matched; raises if the two are not the same architecture."""
    pairs = []
    names = [formula.layer for formula in layer_formulas(_spec_of(torch_model))]
    for name in names:
        k = _unwrap(keras_model.get_layer(name))
        t = getattr(torch_model, name)
        if isinstance(k, keras.layers.RepeatVector):
            continue  # no weights on either side
        if isinstance(k, keras.layers.Embedding):
            pairs.append(WeightPair(f"{name}.embeddings", k.embeddings, t.weight, False))
        elif isinstance(k, keras.layers.Bidirectional):
            pairs += _lstm_pairs(f"{name}.forward", k.forward_layer, t, "")
            pairs += _lstm_pairs(f"{name}.backward", k.backward_layer, t, "_reverse")
        elif isinstance(k, keras.layers.LSTM):
            pairs += _lstm_pairs(name, k, t, "")
        elif isinstance(k, keras.layers.Dense):
            linear = _torch_linear(t)
            pairs.append(WeightPair(f"{name}.kernel", k.kernel, linear.weight, True))
            pairs.append(WeightPair(f"{name}.bias", k.bias, linear.bias, False))
        else:
            raise TypeError(f"layer {name!r}: no mapping for Keras layer {type(k).__name__}")
    for pair in pairs:
        want = tuple(pair.torch.shape[::-1] if pair.transpose else pair.torch.shape)
        if tuple(pair.keras.shape) != want:
            raise ValueError(
                f"{pair.name}: Keras shape {tuple(pair.keras.shape)} does not match "
                f"torch shape {tuple(pair.torch.shape)}; the models have different sizes"
            )
    return pairs


def _spec_of(torch_model) -> ModelSpec:
    spec = getattr(torch_model, "spec", None)
    if not isinstance(spec, ModelSpec):
        raise TypeError(
            f"{type(torch_model).__name__} was not built by impls.build_torch (no .spec)"
        )
    return spec


def _is_keras(model) -> bool:
    # Checked first: on Keras's torch backend a keras.Model is also an nn.Module.
    return isinstance(model, keras.Model)


def copy_weights(src, dst) -> None:
    """Copy every weight from `src` to `dst` in place: Keras -> torch or torch -> Keras."""
    if _is_keras(src) and not _is_keras(dst) and isinstance(dst, nn.Module):
        for pair in weight_pairs(src, dst):
            pair.keras_to_torch()
    elif _is_keras(dst) and not _is_keras(src) and isinstance(src, nn.Module):
        for pair in weight_pairs(dst, src):
            pair.torch_to_keras()
    else:
        raise TypeError(
            "copy_weights copies between a keras.Model and a torch.nn.Module built by "
            f"impls; got {type(src).__name__} -> {type(dst).__name__}"
        )
