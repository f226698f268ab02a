"""Keras's Adam update rule as a torch optimizer.

Keras folds the bias corrections into the step size and adds epsilon to
sqrt(v); torch.optim.Adam adds epsilon to sqrt(v_hat). Even with equal
hyper-parameters the two part from the first step wherever sqrt(v) is near
epsilon. This class repeats Keras 3's `Adam.update_step`
(keras/src/optimizers/adam.py) operation for operation, so a torch model
trained with it follows a Keras model's trajectory.
"""

from __future__ import annotations

import torch

from .spec import KERAS_ADAM_LEARNING_RATE, KERAS_EPSILON


class KerasAdam(torch.optim.Optimizer):
    def __init__(self, params, lr=KERAS_ADAM_LEARNING_RATE, beta_1=0.9, beta_2=0.999, epsilon=KERAS_EPSILON):
        for name, value in (("lr", lr), ("epsilon", epsilon)):
            if not value > 0:
                raise ValueError(f"{name} must be positive, got {value!r}")
        for name, value in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not 0 <= value < 1:
                raise ValueError(f"{name} must be in [0, 1), got {value!r}")
        super().__init__(params, dict(lr=lr, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            b1, b2 = group["beta_1"], group["beta_2"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["m"] = torch.zeros_like(p)
                    state["v"] = torch.zeros_like(p)
                state["step"] += 1
                t = state["step"]
                # Keras computes these powers in the variable's dtype (float32).
                b1_power = torch.tensor(b1, dtype=p.dtype) ** t
                b2_power = torch.tensor(b2, dtype=p.dtype) ** t
                alpha = group["lr"] * torch.sqrt(1 - b2_power) / (1 - b1_power)
                m, v, g = state["m"], state["v"], p.grad
                m.add_((g - m) * (1 - b1))
                v.add_((g.square() - v) * (1 - b2))
                p.sub_(m * alpha.to(p.device) / (v.sqrt() + group["epsilon"]))
        return loss
