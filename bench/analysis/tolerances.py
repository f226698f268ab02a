"""What "equal" means, in one place: the parity tests, `python -m bench parity` and the suite's gate.

Plain numbers only (no framework, no NumPy), so the suite's harness and the
parity checks import them alike.
"""

from __future__ import annotations

# float32 arithmetic in two frameworks: outputs and gradients of one model agree this closely on a CPU.
FLOAT32 = 1e-5

# The trajectory checks train both frameworks this many steps on one batch, and
# compare their outputs at each checkpoint (bench/analysis/parity.py training_diffs).
TRAINING_STEPS = 20
CHECKPOINTS = (1, 5, 10, TRAINING_STEPS)

# Max |difference| per check (bench/analysis/parity.py, tests/test_parity.py, results/parity.csv).
TOLERANCES = {
    "forward": FLOAT32,
    "gradient": FLOAT32,
    "sgd": FLOAT32,  # every checkpoint of TRAINING_STEPS SGD steps
    "keras_adam": 1e-4,  # after TRAINING_STEPS steps, LSTM topologies
    "attention_adam_step1": 1e-4,
    "attention_adam_step20": 5e-3,  # after TRAINING_STEPS steps
}

# The suite's gate before timing a pair (bench/suite/harness.py), per device: float32 on
# CPU; on a GPU the two frameworks reach cuDNN through different paths (TF32 is off).
PARITY_TOLERANCE = {"cpu": TOLERANCES["forward"], "cuda": 1e-4}
# The train gate's loss tolerance, relative to the loss (float32 sums over the batch).
LOSS_TOLERANCE = {"cpu": FLOAT32, "cuda": 1e-4}
