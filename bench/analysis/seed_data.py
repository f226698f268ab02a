"""The seed's toy data (X, y, X_test per topology): shared by `bench seed` and the tables of its results."""

from __future__ import annotations

import numpy as np

from impls import SEED_BATCH

SEED_LENGTH = 5


def seed_data(topology: str):
    """The seed's X, y and X_test for `topology` (as float32, the models' dtype), and its batch size.

    y is the seed's own: for many_to_many that is (1, 5) against an output of
    (1, 5, 1), which the suite refuses (see `training_target`).
    """
    seq = np.array([i / SEED_LENGTH for i in range(SEED_LENGTH)])
    if topology == "one_to_one":  # five samples of one step each
        x, y = seq.reshape(SEED_LENGTH, 1, 1), seq.reshape(SEED_LENGTH, 1)
        x_test = np.arange(start=1, stop=3, step=0.2).reshape(-1, 1, 1)
    else:  # one sample of five steps
        x, y = seq.reshape(1, SEED_LENGTH, 1), seq.reshape(1, SEED_LENGTH)
        x_test = np.arange(start=1, stop=2, step=0.2).reshape(1, -1, 1)
    x, y, x_test = (a.astype(np.float32) for a in (x, y, x_test))
    return x, y, x_test, SEED_BATCH[topology]
