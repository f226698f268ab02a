"""Result CSVs as pandas DataFrames, and the names `report` and `compare` give their rows.

One row model: a result row is a dict of the strings its file holds
(files.read_csv, or validate.check_csv for a checked read). The suite merges
and analysis derives rows in that form, and every question about one row
(is it timed, what is its case key, what is its slice) is answered once, in
bench/store/schema.py. A DataFrame here is a view of those same dicts for the commands that
analyse many rows at a time (report, compare): built from them (`frame_of`),
its predicates mapped from schema.py's, never written again for a frame.

Cells stay the strings the file holds (read through files.read_csv, so the
head "n/a" is not mistaken for a missing value); only the columns a caller
names are parsed as numbers. Errors are ValueError naming the file.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .files import read_csv
from .schema import CASE_KEY, NO_HEAD, SIZE_COLUMNS, SLICE_COLUMNS, is_timed, slice_name, slice_of

# What names a case to a reader; the size label stands for the size columns.
CASE_LABEL_COLUMNS = [c for c in CASE_KEY if c not in SIZE_COLUMNS and c not in SLICE_COLUMNS]
# A run, as the report groups rows: a slice less its compile setting (on and off are drawn side by side).
RUN = [c for c in SLICE_COLUMNS if c != "compile"]
# What is compared within a run, for one problem.
VARIANT = ["framework", "backend", "head", "compile"]


def read_frame(path: Path, columns: list[str], numbers=()) -> pd.DataFrame:
    """`columns` of the CSV at `path`; `numbers` among them as floats, NaN where a cell is empty."""
    return frame_of(read_csv(path, required=columns), columns, numbers, path)


def frame_of(rows: list[dict], columns: list[str], numbers=(), path: Path | str = "rows") -> pd.DataFrame:
    """`columns` of the dict rows `rows` (as read from `path`); `numbers` among them as floats, NaN where empty."""
    # A short row's missing cells read as None: treat them as empty.
    frame = pd.DataFrame(rows, columns=columns, dtype=str).fillna("")
    for column in numbers:
        text = frame[column].str.strip()
        values = pd.to_numeric(text.where(text != ""), errors="coerce")
        bad = values.isna() & (text != "") & (text.str.lower() != "nan")
        if bad.any():
            row = bad.idxmax()
            raise ValueError(f"{path}: row {row + 1}, column {column}: {frame.at[row, column]!r} is not a number")
        frame[column] = values
    return frame


def timed(frame: pd.DataFrame) -> pd.Series:
    """Which rows of a benchmarks frame hold a measurement: schema.is_timed, for a frame."""
    flags = [is_timed(r) for r in frame[["status", "median_s"]].to_dict("records")]
    return pd.Series(flags, index=frame.index, dtype=bool)


def case_names(frame: pd.DataFrame) -> pd.Series:
    """One line per case: "many_to_many keras tensorflow timedistributed train mid [keras_backend=...]"."""
    names = [
        " ".join(r[c] for c in CASE_LABEL_COLUMNS) + f" [{slice_name(slice_of(r))}]" for r in frame.to_dict("records")
    ]
    return pd.Series(names, index=frame.index, dtype=str)


def variant_label(row) -> str:
    """"keras/tensorflow timedistributed", "torch broadcast jit": framework, backend if another, head, compile."""
    name = row["framework"] if row["backend"] == row["framework"] else f"{row['framework']}/{row['backend']}"
    head = row.get("head", NO_HEAD)
    if row["framework"] == "onnxruntime" and head == NO_HEAD:  # a td_tax row: its head names the export's source
        head = str(row.get("looped_head", "")).rpartition("-")[0] + " export"
    return " ".join([name, *([head] if head != NO_HEAD else []), *(["jit"] if row["compile"] == "on" else [])])


def run_title(keras_backend: str, device: str, profile: str, threads: str = "") -> str:
    """"Keras on tensorflow, cpu, quick profile, 1 thread(s)": the RUN columns in words."""
    return f"Keras on {keras_backend}, {device}, {profile} profile" + (f", {threads} thread(s)" if threads else "")


def run_slug(run: tuple) -> str:
    """"tensorflow-cpu-quick-t1": a RUN in file names (files written before threads were recorded lack the t)."""
    keras_backend, device, profile, *threads = run
    return "-".join([keras_backend, device, profile, *(f"t{t}" for t in threads if t)])
