"""bench/analysis/scaling.py on synthetic sweeps whose exponents are known."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.suite.cases import SWEEPS
from bench.analysis.scaling import CURVE, OVERHEAD_SLOPE, exponents, loglog_slope

MID = {"batch": 32, "timesteps": 50, "units": 64}


@settings(deadline=None)  # the machine is shared: a slow example is not a failure
@given(
    exponent=st.floats(-2, 3),
    scale=st.floats(1e-6, 1e3),
    xs=st.lists(st.integers(1, 10_000), min_size=2, max_size=8, unique=True),
)
def test_slope_of_a_power_law_is_its_exponent(exponent, scale, xs):
    ys = [scale * x**exponent for x in xs]
    assert loglog_slope(xs, ys) == pytest.approx(exponent, abs=1e-9)


def test_slope_is_the_least_squares_fit_through_noise():
    xs = np.array([4, 16, 32, 64, 256])
    noise = np.array([1.05, 0.95, 1.0, 1.05, 0.95])  # symmetric about the centre: no tilt
    assert loglog_slope(xs, 2e-3 * xs**1.5 * noise) == pytest.approx(1.5, abs=0.02)


@pytest.mark.parametrize(
    "xs, ys, message",
    [
        ([1, 2, 3], [1, 2], "equally long"),
        ([4, 4], [1, 2], "two distinct x"),
        ([0, 4], [1, 2], "positive"),
        ([1, 4], [1, -2], "positive"),
    ],
)
def test_bad_points_are_refused(xs, ys, message):
    with pytest.raises(ValueError, match=message):
        loglog_slope(xs, ys)


def sweep_rows(framework: str, time_of, variables=tuple(SWEEPS)) -> pd.DataFrame:
    """Rows of one curve: the mid size and each variable's sweep, timed by time_of(sizes)."""
    curve = dict(keras_backend="tensorflow", device="cpu", profile="full", topology="many_to_many", mode="train",
                 framework=framework, backend=framework, head="loop", compile="off", threads="1")
    assert set(curve) == set(CURVE)
    sizes = [("mid", MID)] + [
        (f"{v}={x}", {**MID, v: x}) for v in variables for x in SWEEPS[v] if x != MID[v]
    ]
    return pd.DataFrame(
        {**curve, "size": label, **size, "median_s": time_of(**size)} for label, size in sizes
    )


def test_exponents_recover_each_variables_power():
    rows = sweep_rows("torch", lambda batch, timesteps, units: 1e-6 * batch * timesteps * units**2)
    fits = exponents(rows, SWEEPS).set_index("variable")
    assert list(fits.index) == list(SWEEPS)
    assert fits["exponent"].to_dict() == pytest.approx({"batch": 1, "timesteps": 1, "units": 2})
    assert (fits["points"] == 5).all()  # four sweep points and mid, the centre of each sweep
    assert not fits["overhead"].any()


def test_fixed_overhead_shows_at_small_sizes():
    # 10 ms per call before any work: at batch 4..32 the work is a small part of it.
    rows = sweep_rows("keras", lambda batch, timesteps, units: 10e-3 + 1e-6 * batch * timesteps, variables=["batch"])
    (fit,) = exponents(rows, SWEEPS).itertuples()
    assert fit.small_exponent < OVERHEAD_SLOPE and fit.overhead
    assert fit.small_max == 32
    assert fit.exponent > fit.small_exponent  # the work takes over at the large end


def test_a_variable_not_swept_gives_no_fit():
    one_to_one = sweep_rows("torch", lambda batch, timesteps, units: 1e-6 * batch, variables=["batch", "units"])
    assert list(exponents(one_to_one, SWEEPS)["variable"]) == ["batch", "units"]
