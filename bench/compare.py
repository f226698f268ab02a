"""`python -m bench compare OLD NEW [--threshold 10%]`: what got slower between two result sets.

OLD and NEW are results directories (their benchmarks.csv) or benchmarks.csv
files. Rows are matched by their case key (bench/results.py CASE_KEY). A row
that was not timed (status other than "ok", or no median) is listed and left
out; so is a case present on one side only.

A case is a regression when it is slower by more than the threshold and by
more than its measured spread:

    new_median > old_median * (1 + threshold)   and
    new_median - old_median > (old_iqr + new_iqr) / 2

The second condition says the two interquartile ranges, centred on their
medians, do not overlap: the middle halves of the old and the new rounds are
apart. A missing IQR counts as 0. The same rule with old and new swapped
marks a case faster.

Exit status: 0 without a regression, 1 with one or more, 2 on bad input (a
missing file, missing columns, a cell that is not a number, two rows with one
case key, no case timed on both sides, a bad --threshold), in one line that
names the file and the problem.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd

from .cli import UsageError
from .frames import case_names, read_frame, timed
from .results import CASE_KEY, FILES
from .validate import check_csv, check_results_dir

COLUMNS = [*CASE_KEY, "status", "median_s", "iqr_s"]
DEFAULT_THRESHOLD = "10%"


def parse_threshold(text: str) -> float:
    """"10%" or "0.1" -> 0.1."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value < math.inf:  # negative, infinite, or not a number (nan)
        raise argparse.ArgumentTypeError(
            f"must be a finite non-negative fraction (0.1) or percentage (10%); got {text!r}"
        )
    return value


def load(location: Path) -> pd.DataFrame:
    """The benchmark rows of a results directory or a benchmarks.csv, one row per case key."""
    path = location / FILES["benchmarks"] if location.is_dir() else location
    try:
        if location.is_dir():
            check_results_dir(location, kinds=("benchmarks",))
        if path.exists():
            check_csv(path, "benchmarks")  # whole, well-formed rows: a file cut short is not compared
        frame = read_frame(path, COLUMNS, numbers=["median_s", "iqr_s"])
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except ValueError as e:
        raise UsageError(str(e)) from e
    repeated = frame.duplicated(CASE_KEY)
    if repeated.any():
        example = case_names(frame[repeated]).iloc[0]
        raise UsageError(f"{path}: {repeated.sum()} row(s) repeat a case key, e.g. {example}")
    return frame.assign(timed=timed(frame), name=case_names(frame))


def verdicts(matched: pd.DataFrame, threshold: float) -> pd.Series:
    """"slower", "faster" or "" per matched case: the rule of the module docstring, both ways."""
    old, new = matched["median_s_old"], matched["median_s_new"]
    spread = (matched["iqr_s_old"].fillna(0) + matched["iqr_s_new"].fillna(0)) / 2
    slower = (new > old * (1 + threshold)) & (new - old > spread)
    faster = (old > new * (1 + threshold)) & (old - new > spread)
    return pd.Series("", index=matched.index).mask(slower, "slower").mask(faster, "faster")


def _listing(title: str, lines: list[str]) -> list[str]:
    return [f"{title} ({len(lines)}):", *(f"  {line}" for line in lines)] if lines else []


def _untimed(paired: pd.DataFrame, side: str) -> list[str]:
    rows = paired[~paired[f"timed_{side}"].astype(bool)]
    return [f"{name}: {status or 'no median'}" for name, status in zip(rows[f"name_{side}"], rows[f"status_{side}"])]


def compare(old_location: Path, new_location: Path, threshold: float) -> tuple[list[str], bool]:
    """The lines to print, and whether any case regressed."""
    both = load(old_location).merge(
        load(new_location), on=CASE_KEY, how="outer", suffixes=("_old", "_new"), indicator=True
    )
    paired = both[both["_merge"] == "both"]
    matched = paired[paired["timed_old"].astype(bool) & paired["timed_new"].astype(bool)]
    if matched.empty:
        raise UsageError(f"{old_location} and {new_location} have no case timed in both")
    table = pd.DataFrame(
        {
            "ratio": matched["median_s_new"] / matched["median_s_old"],
            "old_ms": matched["median_s_old"] * 1e3, "new_ms": matched["median_s_new"] * 1e3,
            "verdict": verdicts(matched, threshold), "case": matched["name_old"],
        }
    ).sort_values("ratio", ascending=False, kind="stable")
    lines = [f"{'new/old':>8}  {'old ms':>9}  {'new ms':>9}  {'verdict':7}  case"]
    lines += [f"{r.ratio:8.3f}  {r.old_ms:9.4g}  {r.new_ms:9.4g}  {r.verdict:7}  {r.case}" for r in table.itertuples()]
    lines += _listing(f"not timed in {old_location}, left out", _untimed(paired, "old"))
    lines += _listing(f"not timed in {new_location}, left out", _untimed(paired, "new"))
    lines += _listing(f"only in {old_location}", list(both.loc[both["_merge"] == "left_only", "name_old"]))
    lines += _listing(f"only in {new_location}", list(both.loc[both["_merge"] == "right_only", "name_new"]))
    slower, faster = (table["verdict"] == "slower").sum(), (table["verdict"] == "faster").sum()
    lines.append(
        f"{slower} of {len(table)} case(s) slower by more than {threshold * 100:g}% beyond their spread, "
        f"{faster} faster"
    )
    return lines, slower > 0


def add_arguments(parser) -> None:
    parser.add_argument("old", type=Path, help="the baseline: a results directory or its benchmarks.csv")
    parser.add_argument("new", type=Path, help="the run to check: a results directory or its benchmarks.csv")
    parser.add_argument(
        "--threshold", type=parse_threshold, default=DEFAULT_THRESHOLD,
        help="how much slower counts, beyond the measured spread: 10%% or 0.1 (default: %(default)s)",
    )


def _benchmarks_file(location: Path) -> Path:
    return location / FILES["benchmarks"] if location.is_dir() else location


def run(args) -> int:
    old, new = _benchmarks_file(args.old), _benchmarks_file(args.new)
    if old.exists() and new.exists() and old.samefile(new):
        raise UsageError(f"OLD and NEW are the same file ({old}): give the baseline and the run to check")
    lines, regressed = compare(args.old, args.new, args.threshold)
    print("\n".join(lines))
    return 1 if regressed else 0
