"""Model sizes, shared by both frameworks: one `ModelSpec`, one data generator.

Everything here is plain Python and NumPy, so importing it never imports a
framework (thread counts and the Keras backend must be set before that).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .params import check_positive_int, model_params

TOPOLOGIES = ("one_to_one", "many_to_one", "many_to_many", "attention", "one_to_many")

# Topologies whose head is applied at every timestep (TimeDistributed in Keras).
SEQUENCE_HEAD_TOPOLOGIES = ("many_to_many", "attention", "one_to_many")
# One input vector per sample (no time axis), repeated along time inside the model.
VECTOR_INPUT_TOPOLOGIES = ("one_to_many",)

# Head variants: the same weights applied per timestep in a loop, or fused.
KERAS_HEADS = ("timedistributed", "dense3d")  # TimeDistributed(Dense), or Dense on 3-D
TORCH_HEADS = ("loop", "broadcast")  # Linear per step in a Python loop, or Linear on 3-D
# `broadcast` is what PyTorch users write: nn.Linear already applies to the last
# axis of (batch, time, features), one matmul for every step at once.
DEFAULT_TORCH_HEAD = "broadcast"
DEFAULT_KERAS_HEAD = "timedistributed"  # the seed's
HEADS = {"keras": KERAS_HEADS, "torch": TORCH_HEADS}
LOOPED_HEADS = {"timedistributed", "loop"}
# keras.backend.epsilon(), which is also keras.optimizers.Adam's default epsilon: both arms
# clip cross-entropy probabilities to [eps, 1-eps], and both arms' Adam use it.
KERAS_EPSILON = 1e-7
# keras.optimizers.Adam's default learning rate (what optimizer="adam" gets in Keras).
KERAS_ADAM_LEARNING_RATE = 1e-3

SIZE_FIELDS = (
    "timesteps",
    "features",
    "units",
    "outputs",
    "vocab_size",
    "embedding_dim",
    "dense_units",
)

# The seed's sizes. Its attention snippet leaves vocab_size, embedding_dim and
# the units undefined; these small values stand in for them.
_SEED_SIZES = {
    "one_to_one": dict(timesteps=1, features=1, units=5, outputs=1),
    "many_to_one": dict(timesteps=5, features=1, units=5, outputs=5),
    "many_to_many": dict(timesteps=5, features=1, units=5, outputs=1),
    "attention": dict(
        timesteps=12, vocab_size=50, embedding_dim=8, units=16, dense_units=16, outputs=10
    ),
    # Not in the seed's code (its companion article's decoder shape): its many_to_many
    # sizes, with one input vector repeated over the 5 output steps.
    "one_to_many": dict(timesteps=5, features=1, units=5, outputs=1),
}

# The seed's batch sizes (one_to_one trains its 5 samples as one batch).
SEED_BATCH = {"one_to_one": 5, "many_to_one": 1, "many_to_many": 1, "attention": 4, "one_to_many": 1}

# Defaults for fields a caller leaves out.
_DEFAULTS = dict(
    timesteps=5, features=1, units=5, outputs=1, vocab_size=50, embedding_dim=8, dense_units=16
)


# Upper bounds on each size, far above every profile of the suite (largest: 256 units,
# 200 timesteps, a 1000-word vocabulary) and below what exhausts a machine's memory
# before a framework could say so. Documented in the README ("Size limits").
MAX_SIZES = dict(
    timesteps=10_000, features=4_096, units=4_096, outputs=100_000,
    vocab_size=1_000_000, embedding_dim=4_096, dense_units=4_096,
)
# A model's parameters (Keras's count): 100 million float32 are 400 MB per copy, and
# the suite holds several copies (both frameworks, references, optimizer state).
MAX_PARAMETERS = 100_000_000
# Values in one example input or target array (400 MB of float32).
MAX_ARRAY_VALUES = 100_000_000


def check_topology(topology) -> str:
    if topology not in TOPOLOGIES:
        raise ValueError(
            f"topology must be one of {', '.join(TOPOLOGIES)}; got {topology!r}"
        )
    return topology


def check_head(framework: str, head: str) -> str:
    if head not in HEADS[framework]:
        raise ValueError(
            f"head must be one of {', '.join(HEADS[framework])} for {framework}; got {head!r}"
        )
    return head


@dataclass(frozen=True)
class ModelSpec:
    """The sizes of one model; both frameworks build from it.

    Fields a topology does not use are kept (and validated) but ignored:
    attention ignores `features`, the others ignore the vocabulary fields.
    """

    topology: str
    timesteps: int | None = None
    features: int | None = None
    units: int | None = None
    outputs: int | None = None
    vocab_size: int | None = None
    embedding_dim: int | None = None
    dense_units: int | None = None

    def __post_init__(self):
        check_topology(self.topology)
        for name in SIZE_FIELDS:
            value = getattr(self, name)
            if value is None:
                value = _SEED_SIZES[self.topology].get(name, _DEFAULTS[name])
            value = check_positive_int(name, value)
            if value > MAX_SIZES[name]:
                raise ValueError(f"{name} must be at most {MAX_SIZES[name]} (impls.spec.MAX_SIZES), got {value}")
            object.__setattr__(self, name, value)
        if self.topology == "one_to_one" and self.timesteps != 1:
            raise ValueError(
                f"timesteps must be 1 for one_to_one (one input step per sample), "
                f"got {self.timesteps}; use many_to_one for longer sequences"
            )
        count = model_params(self)
        if count > MAX_PARAMETERS:
            fields = ", ".join(f"{k}={v}" for k, v in self.sizes().items())
            raise ValueError(
                f"sizes ({fields}) give {count} parameters; the limit is {MAX_PARAMETERS} (impls.spec.MAX_PARAMETERS)"
            )

    @classmethod
    def seed(cls, topology: str) -> "ModelSpec":
        """The sizes the seed uses for `topology`."""
        return cls(check_topology(topology), **_SEED_SIZES[topology])

    def replace(self, **changes) -> "ModelSpec":
        return dataclasses.replace(self, **changes)

    def sizes(self) -> dict:
        """The fields this topology uses, in a fixed order (for ids and CSV rows)."""
        return {name: getattr(self, name) for name in self.used_fields()}

    def used_fields(self) -> tuple[str, ...]:
        if self.topology == "attention":
            return ("timesteps", "vocab_size", "embedding_dim", "units", "dense_units", "outputs")
        return ("timesteps", "features", "units", "outputs")

    @property
    def has_sequence_head(self) -> bool:
        return self.topology in SEQUENCE_HEAD_TOPOLOGIES

    @property
    def repeats_input(self) -> bool:
        """one_to_many: the input is one vector, repeated at every step before the LSTM."""
        return self.topology in VECTOR_INPUT_TOPOLOGIES

    @property
    def lstm_inputs(self) -> int:
        """Width of each LSTM input step."""
        return self.embedding_dim if self.topology == "attention" else self.features

    @property
    def loss(self) -> str:
        """The loss that fits the topology (the seed's MSE; cross-entropy for the tagger)."""
        return "categorical_crossentropy" if self.topology == "attention" else "mse"

    def input_shape(self, batch: int) -> tuple[int, ...]:
        if self.topology == "attention":
            return (batch, self.timesteps)
        if self.topology in VECTOR_INPUT_TOPOLOGIES:
            return (batch, self.features)
        return (batch, self.timesteps, self.features)

    def output_shape(self, batch: int) -> tuple[int, ...]:
        if self.has_sequence_head:
            return (batch, self.timesteps, self.outputs)
        return (batch, self.outputs)

    def _checked_shape(self, batch: int, shape_of) -> tuple[int, ...]:
        batch = check_positive_int("batch", batch)
        shape = shape_of(batch)
        if int(np.prod(shape, dtype=object)) > MAX_ARRAY_VALUES:
            raise ValueError(
                f"batch={batch} makes an array of shape {shape}, over {MAX_ARRAY_VALUES} values "
                "(impls.spec.MAX_ARRAY_VALUES)"
            )
        return shape

    def example_inputs(self, batch: int, seed: int = 0) -> np.ndarray:
        """Seeded inputs: float32 sequences, or int32 token ids for attention."""
        shape = self._checked_shape(batch, self.input_shape)
        rng = np.random.default_rng(seed)
        if self.topology == "attention":
            return rng.integers(0, self.vocab_size, size=shape, dtype=np.int32)
        return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)

    def example_targets(self, batch: int, seed: int = 0) -> np.ndarray:
        """Seeded targets of the output's shape: one-hot rows for attention."""
        shape = self._checked_shape(batch, self.output_shape)
        rng = np.random.default_rng(seed + 1_000_003)  # independent of the inputs
        if self.topology == "attention":
            labels = rng.integers(0, self.outputs, size=shape[:-1])
            # One-hot without an (outputs x outputs) identity matrix: memory grows with the array only.
            targets = np.zeros(shape, dtype=np.float32)
            np.put_along_axis(targets, labels[..., None], 1.0, axis=-1)
            return targets
        return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)

    def check_targets(self, targets) -> None:
        """Refuse a target whose shape differs from the model's output.

        Keras would expand a (1, 5) target to (1, 5, 1) quietly, and
        torch.nn.MSELoss would broadcast it to (1, 5, 5) and train on the wrong
        loss; here neither happens.
        """
        shape = tuple(targets.shape)
        if len(shape) < 1:
            raise ValueError(f"target must have a batch axis, got shape {shape}")
        expected = self.output_shape(shape[0])
        if shape != expected:
            raise ValueError(
                f"target shape {shape} does not match the {self.topology} model's "
                f"output shape {expected}; reshape the target to {expected} "
                "(nothing is broadcast)"
            )

    def check_batch(self, inputs, targets=None) -> None:
        """Refuse inputs (and targets, if given) that do not fit the model, before any step."""
        self.check_inputs(inputs)
        if targets is not None:
            self.check_targets(targets)

    def check_inputs(self, inputs) -> None:
        shape = tuple(inputs.shape)
        if len(shape) < 1 or shape != self.input_shape(shape[0]):
            expected = self.input_shape(shape[0] if shape else 1)
            raise ValueError(
                f"input shape {shape} does not match the {self.topology} model's "
                f"input shape {expected} (batch first)"
            )
