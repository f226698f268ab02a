"""Keras on JAX: LSTM gradients under jax.jit against the same model without it (TimeDistributed head).

Standalone: Keras and JAX only, nothing of tdbench. On a lent NVIDIA H200 (Keras 3.15.1, JAX 0.11.2,
CUDA 13) tdbench's train gate found the LSTM kernel, recurrent kernel and bias gradients of this model
wrong under jax.jit (largest difference 0.0074 against gradients of about 0.011), while the
TimeDistributed head's gradients, the loss, the model without jax.jit, and the model with a Dense
applied to the 3-D sequence (no TimeDistributed) all agreed within 1e-7. This script isolates that:
one batch, one loss, the gradient of every variable computed four ways, printed as the largest
absolute difference from the eager TimeDistributed model's gradients.

    KERAS_BACKEND=jax python jax_jit_lstm_gradients.py        # add XLA_PYTHON_CLIENT_PREALLOCATE=false on a GPU

Exit status 1 when a variant's gradients differ from the eager model's by more than 1e-5.
"""

import os
import platform
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

BATCH, TIMESTEPS, FEATURES, UNITS = 32, 50, 16, 64
TOLERANCE = 1e-5
jax.config.update("jax_default_matmul_precision", "highest")  # full float32: no TF32 on the GPU


def build(head: str) -> keras.Model:
    """LSTM(return_sequences=True) then a per-timestep Dense(1): TimeDistributed, or Dense on the 3-D sequence."""
    inputs = keras.Input((TIMESTEPS, FEATURES))
    sequence = keras.layers.LSTM(UNITS, return_sequences=True)(inputs)
    dense = keras.layers.Dense(1)
    outputs = keras.layers.TimeDistributed(dense)(sequence) if head == "timedistributed" else dense(sequence)
    return keras.Model(inputs, outputs)


def gradients(model: keras.Model, x, y, jit: bool) -> list[np.ndarray]:
    """d(mean squared error)/d(each trainable variable) at the model's weights, through stateless_call."""
    def loss(trainable, non_trainable):
        prediction, _ = model.stateless_call(trainable, non_trainable, x)
        return jnp.mean((prediction - y) ** 2)

    grad = jax.grad(loss)
    if jit:
        grad = jax.jit(grad)
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]
    return [np.asarray(g) for g in grad(trainable, non_trainable)]


def main() -> int:
    print(f"python {platform.python_version()}, keras {keras.__version__}, jax {jax.__version__}, "
          f"devices {[d.device_kind for d in jax.devices()]}")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, TIMESTEPS, FEATURES)).astype("float32")
    y = rng.standard_normal((BATCH, TIMESTEPS, 1)).astype("float32")
    keras.utils.set_random_seed(0)
    reference = build("timedistributed")
    weights = reference.get_weights()
    expected = gradients(reference, x, y, jit=False)
    names = [v.path for v in reference.trainable_variables]
    worst = 0.0
    for head in ("timedistributed", "dense3d"):
        model = build(head)
        model.set_weights(weights)  # the same variables in the same order for both heads
        for jit in (False, True):
            got = gradients(model, x, y, jit)
            diffs = {n: float(np.abs(a - b).max()) for n, a, b in zip(names, got, expected)}
            worst = max(worst, *diffs.values())
            print(f"{head:15s} {'jax.jit' if jit else 'no jit':7s} largest |grad - eager TD grad|: "
                  + ", ".join(f"{n} {d:.2g}" for n, d in diffs.items()))
    print(f"largest difference {worst:.2g} ({'over' if worst > TOLERANCE else 'within'} {TOLERANCE:g})")
    return 1 if worst > TOLERANCE else 0


if __name__ == "__main__":
    sys.exit(main())
