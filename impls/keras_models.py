"""The seed's models in Keras 3 (any backend), written as the seed writes them."""

from __future__ import annotations

import keras
from keras import layers

from .spec import DEFAULT_KERAS_HEAD, ModelSpec, check_head


class _Seeds:
    """Distinct seeded initializers, so a build is reproducible without global state.

    Each layer gets its own seed: Bidirectional would otherwise clone the
    forward layer's seeded initializers and start both directions equal.
    """

    def __init__(self, seed: int):
        self._next = seed * 1000

    def _take(self) -> int:
        self._next += 1
        return self._next

    def dense(self) -> dict:
        return dict(kernel_initializer=keras.initializers.GlorotUniform(seed=self._take()))

    def lstm(self) -> dict:
        return dict(
            kernel_initializer=keras.initializers.GlorotUniform(seed=self._take()),
            recurrent_initializer=keras.initializers.Orthogonal(seed=self._take()),
        )

    def embedding(self) -> dict:
        return dict(embeddings_initializer=keras.initializers.RandomUniform(seed=self._take()))


def _per_timestep(head: str, name: str, units: int, **dense_args):
    """The head applied at every step: the TimeDistributed wrapper, or Dense on 3-D."""
    if head == "timedistributed":
        # Keras 3 loops over the (static) time axis in Python, one Dense call per step.
        return layers.TimeDistributed(layers.Dense(units, **dense_args), name=name)
    # Dense on (batch, time, features) is one matmul over the last axis.
    return layers.Dense(units, name=name, **dense_args)


def _dot_product_attention(h):
    """The seed's unscaled self-attention: softmax(h . h^T) over the key axis, then . h."""
    scores = layers.Dot(axes=[2, 1], name="scores")([h, layers.Permute((2, 1))(h)])
    weights = layers.Activation("softmax", name="attention_weights")(scores)
    return layers.Dot(axes=[2, 1], name="context")([weights, h])


def build_keras(spec: ModelSpec, head: str = DEFAULT_KERAS_HEAD, seed: int = 0) -> keras.Model:
    """Build the Keras model for `spec`. `head` matters only for per-timestep heads."""
    check_head("keras", head)
    init = _Seeds(seed)
    t = spec.topology
    if t == "attention":
        tokens = keras.Input(shape=(spec.timesteps,), dtype="int32", name="tokens")
        x = layers.Embedding(
            spec.vocab_size, spec.embedding_dim, name="embedding", **init.embedding()
        )(tokens)
        h = layers.Bidirectional(
            layers.LSTM(spec.units, return_sequences=True, name="forward_lstm", **init.lstm()),
            backward_layer=layers.LSTM(
                spec.units,
                return_sequences=True,
                go_backwards=True,
                name="backward_lstm",
                **init.lstm(),
            ),
            name="lstm",
        )(x)
        both = layers.Concatenate(axis=2, name="concat")([h, _dot_product_attention(h)])
        hidden = _per_timestep(
            head, "hidden", spec.dense_units, activation="relu", **init.dense()
        )(both)
        out = _per_timestep(
            head, "head", spec.outputs, activation="softmax", **init.dense()
        )(hidden)
        return keras.Model(tokens, out, name=f"{t}_{head}")

    if spec.repeats_input:  # one_to_many: one vector in, repeated at every step
        inputs = keras.Input(shape=(spec.features,), name="vector")
        steps = layers.RepeatVector(spec.timesteps, name="repeat")(inputs)
    else:
        inputs = steps = keras.Input(shape=(spec.timesteps, spec.features), name="sequence")
    sequences = spec.has_sequence_head
    h = layers.LSTM(spec.units, return_sequences=sequences, name="lstm", **init.lstm())(steps)
    if sequences:
        out = _per_timestep(head, "head", spec.outputs, **init.dense())(h)
    else:  # one output per sequence: Dense on the last hidden state
        out = layers.Dense(spec.outputs, name="head", **init.dense())(h)
    return keras.Model(inputs, out, name=f"{t}_{head}" if sequences else t)
