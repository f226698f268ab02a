# The check behind README.md's gate finding, run on the GPU machine from the repository root:
#   PYTHONPATH=<keras wheel dir>:$PWD python3 results/nvidia-h200-16c-126g/gradient_check.py
# Output: gradient_check.txt. Gradients are reference minus weights after one SGD step of lr 1.
import os, sys
os.environ["KERAS_BACKEND"] = "jax"; os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
import numpy as np
from bench.suite.harness import use_full_float32, GATE_OPTIMIZER
use_full_float32("cuda")
from impls import ModelSpec, copy_weights
from impls.runners import KerasRunner, TorchRunner
spec = ModelSpec.seed("many_to_many").replace(timesteps=50, features=16, units=64)
x, y = spec.example_inputs(32, 0), spec.example_targets(32, 0)
ref = KerasRunner(spec, device="cuda"); w0 = ref.model.get_weights()
t = TorchRunner(spec, device="cuda", **GATE_OPTIMIZER); copy_weights(ref.model, t.model)
lt = t.train_step(*t.put(x, y)); scratch = KerasRunner(spec, device="cuda").model; copy_weights(t.model, scratch); wt = scratch.get_weights()
names = [v.path for v in ref.model.weights]
for head in ("timedistributed", "dense3d"):
    for jit in (False, True):
        k = KerasRunner(spec, head, device="cuda", compile=jit, **GATE_OPTIMIZER); k.model.set_weights(w0)
        lk = k.train_step(*k.put(x, y)); wk = k.model.get_weights()
        d = {n: float(np.abs(a - b).max()) for n, a, b in zip(names, wk, wt)}
        print(head, "jit" if jit else "nojit", "loss", lk, lt, "grad diffs", {n: f"{v:.2g}" for n, v in d.items()}, "| grad norms", [f"{np.abs(a-b).max():.2g}" for a, b in zip(w0, wk)], flush=True)
