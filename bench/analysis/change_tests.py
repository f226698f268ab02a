"""`bench compare`'s test of two result sets, shared by `bench compare` and `bench detection`.

bench/commands/compare.py states the rule; here are its parts: `load` reads a
results directory's cases and Keras/torch pairs, `match` pairs the cases of
two sets by their case key, and `joint_tests` builds one ChangeTest per case
timed on both sides and per Keras/torch pair, each with its variances and the
noise model's run-to-run terms. `stats.judge(cases + pair_tests, threshold)`
judges them together with one false discovery rate: compare prints its
verdicts, bench/commands/detection.py counts those that caught a run with
known extra work. Bad input is a ResultsError naming the file (one line, exit
2 in the commands).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..store import noise, raw
from ..store.dataframes import case_names, frame_of, timed
from ..store.files import ResultsError
from ..store.schema import CASE_KEY, FILES, key_cell
from ..store.validate import check_csv, check_results_dir
from .derived import timing
from .pairs import pair_measurements
from .stats import ChangeTest, case_within_var

COLUMNS = [*CASE_KEY, "status", "median_s", "iqr_s", "rounds"]


def benchmarks_file(location: Path) -> Path:
    return location / FILES["benchmarks"] if location.is_dir() else location


def load(location: Path) -> tuple[pd.DataFrame, dict]:
    """The benchmark rows of a results directory or a benchmarks.csv, one row per (normalised) case key,
    with `within_var`, the variance of log(median) from its raw rounds (or its IQR); and its Keras/torch
    pairs (bench/analysis/pairs.py pair_measurements)."""
    path = benchmarks_file(location)
    try:
        if location.is_dir():
            check_results_dir(location, kinds=("benchmarks",))
        # Whole, well-formed rows: a file cut short is not compared.
        rows = check_csv(path, "benchmarks")
        frame = frame_of(rows, COLUMNS, numbers=["median_s", "iqr_s"], path=path)
        rounds = raw.load(path.parent)
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such file") from None
    except ValueError as e:
        raise ResultsError(str(e)) from e
    for column in CASE_KEY:
        frame[column] = frame[column].map(key_cell)
    repeated = frame.duplicated(CASE_KEY)
    if repeated.any():
        example = case_names(frame[repeated]).iloc[0]
        raise ResultsError(f"{path}: {repeated.sum()} row(s) repeat a case key, e.g. {example}")
    records = frame.to_dict("records")
    timings = [timing(r, rounds) for r in records]  # each case's rounds, looked up once
    within = [case_within_var(t) for t in timings]
    frame = frame.assign(timed=timed(frame), name=case_names(frame), within_var=np.nan_to_num(within, nan=0.0),
                         blocks=[len(t.blocks) for t in timings])
    return frame, pair_measurements(rows, rounds)


def case_tests(matched: pd.DataFrame, run_var: float) -> list[ChangeTest]:
    """One Test per case timed on both sides (the variance bench/commands/compare.py's docstring gives)."""
    return [ChangeTest(math.log(n / o), vo + vn + 2 * run_var, min(bo, bn)) for o, n, vo, vn, bo, bn in zip(
        matched["median_s_old"], matched["median_s_new"], matched["within_var_old"], matched["within_var_new"],
        matched["blocks_old"], matched["blocks_new"])]


def match(old: pd.DataFrame, new: pd.DataFrame, old_location: Path, new_location: Path) -> tuple[pd.DataFrame, ...]:
    """(every case key of either side, those on both sides, those timed on both) of two `load` frames;
    no case timed on both sides is a ResultsError naming the two locations."""
    both = old.merge(new, on=CASE_KEY, how="outer", suffixes=("_old", "_new"), indicator=True)
    paired = both[both["_merge"] == "both"]
    matched = paired[paired["timed_old"].astype(bool) & paired["timed_new"].astype(bool)]
    if matched.empty:
        raise ResultsError(f"{old_location} and {new_location} have no case timed in both")
    return both, paired, matched


def joint_tests(matched: pd.DataFrame, old_pairs: dict, new_pairs: dict, model: dict,
                times: bool = True) -> tuple[list[ChangeTest], list, list[ChangeTest]]:
    """compare's tests of two result sets under the noise model `model` (noise.json): one per case timed on
    both sides (none when `times` is False: two machines), the Keras/torch pairs on both sides and one test
    per pair. `judge(cases + pair_tests, threshold)` is the rule: one false discovery rate over them all."""
    cases = case_tests(matched, model["time_run_var"]) if times else []
    pair_keys, pair_tests = ratio_tests(old_pairs, new_pairs, model["ratio_run_var"], noise.pair_vars(model))
    return cases, pair_keys, pair_tests


def ratio_tests(old: dict, new: dict, ratio_run_var: float, pair_run_vars: dict | None = None) -> tuple[list, list[ChangeTest]]:
    """The Keras/torch pairs on both sides (bench/analysis/pairs.py keys) and one Test per pair, with the
    ratio's own noise (stats.py pair_within_var, paired blocks) and noise.json's run-to-run term: the
    pair's own (`pair_run_vars`, noise.pair_vars) where it has one, else ratio_run_var.

    A ratio's two arms were timed in alternating blocks (bench/suite/session.py), so a
    change of the machine that slows both cancels in it: a framework that got
    slower shows here even when single case times move too much between runs
    to tell (noise.json's time_run_var against its ratio_run_var).
    """
    keys = sorted(old.keys() & new.keys())
    own = pair_run_vars or {}
    return keys, [ChangeTest(new[k][0].log - old[k][0].log, old[k][0].var + new[k][0].var + 2 * own.get(k, ratio_run_var),
                       min(old[k][0].blocks, new[k][0].blocks)) for k in keys]
