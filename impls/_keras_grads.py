"""Gradients of a Keras model's compiled loss, on whichever backend Keras runs."""

from __future__ import annotations

import keras
import numpy as np

from .keras_losses import keras_loss


def keras_gradients(model: keras.Model, x, y, loss: str) -> dict[str, np.ndarray]:
    """The gradient of `loss` (reduced as `model.compile(loss=...)` reduces it)."""
    loss_fn = keras_loss(loss)
    backend = keras.backend.backend()
    variables = model.trainable_variables
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, variables)
    elif backend == "jax":
        import jax

        def loss_of(trainable, non_trainable):
            y_pred, _ = model.stateless_call(trainable, non_trainable, x, training=True)
            return loss_fn(y, y_pred)

        grads = jax.grad(loss_of)(
            [v.value for v in variables], [v.value for v in model.non_trainable_variables]
        )
    elif backend == "torch":
        for v in variables:
            v.value.grad = None
        loss_fn(y, model(x, training=True)).backward()
        grads = [v.value.grad for v in variables]
    else:
        raise NotImplementedError(f"gradients on the Keras {backend!r} backend")
    return {v.path: keras.ops.convert_to_numpy(g) for v, g in zip(variables, grads)}
