"""The losses in torch, computed the way Keras computes them."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .spec import KERAS_EPSILON


def categorical_crossentropy(probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Keras's cross-entropy on probabilities: renormalise, clip to [eps, 1-eps], -sum(t*log p).

    Averaged over every (sample, timestep), as Keras's "sum_over_batch_size" does.
    """
    probs = probs / probs.sum(dim=-1, keepdim=True)
    probs = probs.clamp(KERAS_EPSILON, 1.0 - KERAS_EPSILON)
    return -(target * probs.log()).sum(dim=-1).mean()


def mean_squared_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if pred.shape != target.shape:  # never let broadcasting pick the loss
        raise ValueError(
            f"target shape {tuple(target.shape)} does not match output shape {tuple(pred.shape)}"
        )
    return F.mse_loss(pred, target)


_LOSSES = {"mse": mean_squared_error, "categorical_crossentropy": categorical_crossentropy}


def torch_loss(name: str):
    if name not in _LOSSES:
        raise ValueError(f"loss must be one of {', '.join(_LOSSES)}; got {name!r}")
    return _LOSSES[name]
