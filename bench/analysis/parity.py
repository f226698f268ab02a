"""Proof that a Keras model and its PyTorch twin are one model: outputs, gradients, training.

Each function builds the pair from one `ModelSpec`, gives both the same
weights, and returns the largest absolute difference it found. The tests
assert on these numbers; `python -m bench parity` prints and saves them.
"""

from __future__ import annotations

import numpy as np

from impls import SEED_BATCH, ModelSpec
from impls.contract import make_runner

from .tolerances import CHECKPOINTS, TOLERANCES, TRAINING_STEPS

# Learning rates for the trajectory checks: large enough that TRAINING_STEPS steps move
# the weights visibly, small enough to stay stable on every topology.
LEARNING_RATES = {"sgd": 0.05, "adam": 1e-3}

# The sizes every parity check runs at: the seed's, and one larger case per
# topology (batch > 1, timesteps >= 20, units >= 32, vocabulary >= 100).
# one_to_one has a single step, so its larger case grows batch and width instead.
PARITY_CASES = {
    "one_to_one-seed": (ModelSpec.seed("one_to_one"), SEED_BATCH["one_to_one"]),
    "one_to_one-large": (ModelSpec("one_to_one", features=8, units=64, outputs=4), 32),
    "many_to_one-seed": (ModelSpec.seed("many_to_one"), SEED_BATCH["many_to_one"]),
    "many_to_one-large": (
        ModelSpec("many_to_one", timesteps=24, features=3, units=32, outputs=4),
        8,
    ),
    "many_to_many-seed": (ModelSpec.seed("many_to_many"), SEED_BATCH["many_to_many"]),
    "many_to_many-large": (
        ModelSpec("many_to_many", timesteps=30, features=4, units=40, outputs=3),
        8,
    ),
    "one_to_many-seed": (ModelSpec.seed("one_to_many"), SEED_BATCH["one_to_many"]),
    "one_to_many-large": (
        ModelSpec("one_to_many", timesteps=30, features=4, units=40, outputs=3),
        8,
    ),
    "attention-seed": (ModelSpec.seed("attention"), SEED_BATCH["attention"]),
    "attention-large": (
        ModelSpec(
            "attention", timesteps=20, vocab_size=120, embedding_dim=16, units=32,
            dense_units=24, outputs=7,
        ),
        4,
    ),
}


def _pair(spec, keras_head, torch_head, direction="keras_to_torch", **options):
    """A Keras runner and a torch runner holding the same weights."""
    from impls import copy_weights  # late: loads Keras and torch, after runtime.configure set their threads

    k = make_runner("keras", spec, keras_head, **options)
    t = make_runner("torch", spec, torch_head, **options)
    if direction == "keras_to_torch":
        copy_weights(k.model, t.model)
    elif direction == "torch_to_keras":
        copy_weights(t.model, k.model)
    else:
        raise ValueError(f"direction must be keras_to_torch or torch_to_keras; got {direction!r}")
    return k, t


def max_abs_diff(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"cannot compare shapes {a.shape} and {b.shape}")
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def forward_diff(spec: ModelSpec, batch: int, keras_head, torch_head, direction="keras_to_torch", seed=0, device="cpu"):
    k, t = _pair(spec, keras_head, torch_head, direction, seed=seed, device=device)
    x = spec.example_inputs(batch, seed)
    return max_abs_diff(k.forward(k.put(x)[0]), t.forward(t.put(x)[0]))


def gradient_diff(spec: ModelSpec, batch: int, keras_head, torch_head, seed=0) -> dict[str, float]:
    """Per weight (named as in the bridge): max |dL/dw (Keras) - dL/dw (torch)|."""
    from impls import weight_pairs  # late: loads Keras and torch, after runtime.configure set their threads

    k, t = _pair(spec, keras_head, torch_head, seed=seed)
    x, y = spec.example_inputs(batch, seed), spec.example_targets(batch, seed)
    keras_grads = k.gradients(*k.put(x, y))
    t.gradients(*t.put(x, y))
    return {
        pair.name: max_abs_diff(keras_grads[pair.keras.path], pair.torch_grad_as_keras())
        for pair in weight_pairs(k.model, t.model)
    }


def training_diffs(
    spec: ModelSpec,
    batch: int,
    keras_head,
    torch_head,
    torch_optimizers=("sgd",),
    checkpoints=CHECKPOINTS,
    seed=0,
) -> dict[str, dict[int, float]]:
    """Train both on one batch from equal weights; max |output difference| after each checkpoint.

    Keras uses its own optimizer; each entry of `torch_optimizers` is one
    torch run against the same Keras trajectory: "sgd", "adam"
    (torch.optim.Adam with Keras's hyper-parameters) or "keras_adam" (Keras's
    update rule, impls.optim.KerasAdam). SGD and Adam need separate calls.
    """
    from impls import copy_weights  # late: loads Keras and torch, after runtime.configure set their threads

    keras_opt = "sgd" if set(torch_optimizers) == {"sgd"} else "adam"
    if keras_opt == "adam" and "sgd" in torch_optimizers:
        raise ValueError("torch_optimizers mixes sgd with adam rules; make two calls")
    lr = LEARNING_RATES[keras_opt]
    x, y = spec.example_inputs(batch, seed), spec.example_targets(batch, seed)
    k = make_runner("keras", spec, keras_head, optimizer=keras_opt, learning_rate=lr, seed=seed)
    torch_runners = {
        opt: make_runner("torch", spec, torch_head, optimizer=opt, learning_rate=lr)
        for opt in torch_optimizers
    }
    for t in torch_runners.values():
        copy_weights(k.model, t.model)
    kb = k.put(x, y)
    tbs = {opt: t.put(x, y) for opt, t in torch_runners.items()}
    diffs = {opt: {} for opt in torch_optimizers}
    for step in range(1, max(checkpoints) + 1):
        k.train_step(*kb)
        for opt, t in torch_runners.items():
            t.train_step(*tbs[opt])
        if step in checkpoints:
            reference = k.forward(kb[0])
            for opt, t in torch_runners.items():
                diffs[opt][step] = max_abs_diff(reference, t.forward(tbs[opt][0]))
    return diffs


def adam_tolerance(topology: str, optimizer: str, step: int) -> float | None:
    """The bound a torch Adam trajectory must keep, or None where none is promised.

    torch.optim.Adam has none on the LSTM topologies: its update rule is not
    Keras's. On attention both rules drift (near-zero gradients meet Adam's
    normalisation), so the bound is looser and holds for either rule.
    """
    if topology == "attention":
        if step == 1:
            return TOLERANCES["attention_adam_step1"]
        if step == TRAINING_STEPS:
            return TOLERANCES["attention_adam_step20"]
        return None
    if optimizer == "keras_adam":
        return TOLERANCES["keras_adam"]
    return None
