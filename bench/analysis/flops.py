"""Analytic floating-point work of one benchmark case: the one place these counts live.

Conventions (the usual ones for roofline estimates):
- a matmul of (m x k) by (k x n) is 2*m*k*n FLOPs;
- every elementwise operation, activations included, is 1 FLOP per element;
  softmax is 3 per element (exp, sum, divide), wherever it appears;
- lookups (Embedding), copies (RepeatVector), transposes and concatenation are free;
- one_to_many's LSTM reads the same repeated vector at every step and is
  counted as the frameworks compute it: an input matmul per step;
- train = forward + backward (about 2x forward) + the Adam update
  (ADAM_FLOPS_PER_PARAM per trainable parameter); infer = forward.
"""

from __future__ import annotations

from impls import ModelSpec

ADAM_FLOPS_PER_PARAM = 12  # m, v updates, sqrt, divide, step: about a dozen ops
# Per output element of each activation the models use.
ACTIVATION_FLOPS = {None: 0, "relu": 1, "softmax": 3}


def lstm_step_flops(inputs: int, units: int) -> int:
    """One sample, one timestep of an LSTM layer."""
    gates = 4 * units
    matmuls = 2 * inputs * gates + 2 * units * gates
    bias = gates
    activations = gates + units  # sigmoid i, f, o and tanh g; then tanh(c)
    cell = 4 * units  # f*c, i*g, their sum, o*tanh(c)
    return matmuls + bias + activations + cell


def dense_flops(inputs: int, units: int, activation: str | None = None) -> int:
    """One sample (one timestep) of a Dense layer: matmul, bias, activation."""
    return 2 * inputs * units + units + ACTIVATION_FLOPS[activation] * units


def attention_flops(timesteps: int, width: int) -> int:
    """One sample of the unscaled self-attention: h.h^T, softmax over keys, weights.h."""
    scores = 2 * timesteps * timesteps * width
    softmax = ACTIVATION_FLOPS["softmax"] * timesteps * timesteps
    context = 2 * timesteps * timesteps * width
    return scores + softmax + context


def forward_flops(spec: ModelSpec, batch: int) -> int:
    t, u = spec.timesteps, spec.units
    if spec.topology == "attention":
        per_sample = (
            2 * t * lstm_step_flops(spec.embedding_dim, u)  # both directions
            + attention_flops(t, 2 * u)
            + t * dense_flops(4 * u, spec.dense_units, "relu")
            + t * dense_flops(spec.dense_units, spec.outputs, "softmax")
        )
    else:
        head_steps = t if spec.has_sequence_head else 1
        per_sample = t * lstm_step_flops(spec.features, u) + head_steps * dense_flops(u, spec.outputs)
    return batch * per_sample


def case_flops(spec: ModelSpec, batch: int, mode: str, trainable_params: int) -> int:
    forward = forward_flops(spec, batch)
    if mode == "infer":
        return forward
    if mode == "train":
        return 3 * forward + ADAM_FLOPS_PER_PARAM * trainable_params
    raise ValueError(f"mode must be train or infer; got {mode!r}")
