"""The losses in Keras, written so that every backend and head computes them the same way.

Keras's own `categorical_crossentropy` on TensorFlow reads the logits off a
softmax output when the tensor still carries them (the `dense3d` head) and
uses clipped probabilities when it does not (TimeDistributed's stacked
outputs); torch's arm always uses probabilities. Both arms therefore compute
cross-entropy from probabilities, with the same operations in the same order
as impls/torch_losses.py: renormalise, clip to [eps, 1-eps], -sum(t * log p).
"""

from __future__ import annotations

import keras
from keras import ops

from .spec import KERAS_EPSILON


class CategoricalCrossentropyFromProbabilities(keras.losses.Loss):
    """-sum(t * log(clip(p))) per (sample, timestep); the default reduction averages them all."""

    def __init__(self, name="categorical_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        y_pred = y_pred / ops.sum(y_pred, axis=-1, keepdims=True)
        y_pred = ops.clip(y_pred, KERAS_EPSILON, 1.0 - KERAS_EPSILON)
        return -ops.sum(y_true * ops.log(y_pred), axis=-1)


def keras_loss(name: str) -> keras.losses.Loss:
    """The loss `model.compile` gets, reduced over every (sample, timestep) like torch's `.mean()`."""
    if name == "mse":
        return keras.losses.MeanSquaredError()
    if name == "categorical_crossentropy":
        return CategoricalCrossentropyFromProbabilities()
    raise ValueError(f"loss must be one of mse, categorical_crossentropy; got {name!r}")
