"""How time grows with each swept size: log-log slopes over the full profile's sweeps.

The full profile (bench/suite/cases.py SWEEPS, the caller's `variables`) varies batch, timesteps and units one
at a time around the mid size, so a sweep's points are its "variable=N" rows
plus the "mid" row, its centre. The exponent k of time ~ size^k is the
least-squares slope of log(time) on log(size): 1 is linear, 0 is flat. Where
the slope over the smallest sizes stays near 0, time there hardly depends on
the work: fixed overhead (Python dispatch, graph calls, kernel launches)
dominates it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..store.dataframes import RUN, VARIANT

PROFILE = "full"
CENTRE = "mid"
SMALL_POINTS = 3  # the sweep's smallest sizes, where fixed overhead shows first
OVERHEAD_SLOPE = 0.3  # a slope below this over those sizes: overhead-dominated
# One curve per run, problem and variant; the swept size moves along it.
CURVE = [*RUN, "topology", "mode", *VARIANT]
EXPONENT_COLUMNS = [*CURVE, "variable", "points", "exponent", "small_exponent", "small_max", "overhead"]


def loglog_slope(xs, ys) -> float:
    """Least-squares slope of log(y) on log(x): the k of y ~ x^k."""
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    if xs.ndim != 1 or xs.shape != ys.shape:
        raise ValueError(f"xs and ys must be 1-D and equally long; got shapes {xs.shape} and {ys.shape}")
    if len(np.unique(xs)) < 2:
        raise ValueError("a slope needs at least two distinct x values")
    if not (np.all(xs > 0) and np.all(ys > 0)):
        raise ValueError("a log-log fit needs positive x and y values")
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def full_profile(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["profile"] == PROFILE]


def sweep_points(rows: pd.DataFrame, variable: str) -> pd.DataFrame:
    """The rows on `variable`'s sweep (its "variable=N" rows and the centre), smallest first."""
    on_sweep = rows["size"].str.startswith(f"{variable}=") | (rows["size"] == CENTRE)
    return rows[on_sweep].sort_values(variable)


def exponents(rows: pd.DataFrame, variables) -> pd.DataFrame:
    """One row per curve and swept variable that has two sizes or more (EXPONENT_COLUMNS).

    `rows`: timed full-profile rows, with median_s and the swept columns parsed as numbers;
    `variables`: the swept sizes, in the order to report them (bench/suite/cases.py SWEEPS).
    """
    fits = []
    for key, curve in rows.groupby(CURVE, sort=False):
        for variable in variables:
            points = sweep_points(curve, variable)
            xs, ys = points[variable].to_numpy(), points["median_s"].to_numpy()
            if len(np.unique(xs)) < 2:
                continue  # not swept for this topology (one_to_one's timesteps)
            small = loglog_slope(xs[:SMALL_POINTS], ys[:SMALL_POINTS])
            fits.append(
                {
                    **dict(zip(CURVE, key)), "variable": variable, "points": len(xs),
                    "exponent": loglog_slope(xs, ys), "small_exponent": small,
                    "small_max": xs[:SMALL_POINTS].max(), "overhead": small < OVERHEAD_SLOPE,
                }
            )
    return pd.DataFrame(fits, columns=EXPONENT_COLUMNS)
