"""`python -m bench compare OLD NEW [--threshold 10%]`: what got slower between two result sets.

OLD and NEW are results directories (their benchmarks.csv), benchmarks.csv
files, or the names of machine directories under results/ (`ls results/`). Rows are matched by their case key (bench/store/schema.py case_key). A row
that was not timed (status other than "ok", or no median) is listed and left
out; so is a case present on one side only.

Case keys are compared as values, not as text: 1000 and 1000.0 are one size,
an empty cell and NaN are one blank (bench/store/schema.py key_cell), so a CSV
re-saved by pandas still matches its original.

A case is slower (or faster) when its change is both real and large
(bench/analysis/stats.py change_direction):

    |log(new_median / old_median)| > t * sqrt(var_old + var_new + 2 * var_run)   and
    |new_median / old_median - 1| > threshold        (on the log scale: log(1 + threshold))

t is Student's 97.5% quantile with blocks - 1 degrees of freedom (the side
with fewer blocks), 1.96 for variances from rounds alone (stats.t_quantile).
var_old and var_new are the larger of the bootstrap variance of log(median)
over each side's raw rounds and the variance of its block medians over the
number of blocks (results/raw/, bench/store/raw.py); a side without raw rounds
falls back to its IQR and round count (normal approximation), and to 0 when
those are missing too. var_run is the machine's run-to-run variance of one
case's log time, measured by `python -m bench stability` and read from
noise.json (--noise DIR; by default NEW's, else OLD's). Without one the
test knows only the rounds and flags the ordinary difference between two
processes as a change: it says so. `python -m bench stability` measures the
rule's A/A flag rate and its detection rate of an injected slowdown.

The same rule is applied to every Keras/torch ratio (comparison.csv's pairs,
bench/analysis/pairs.py) with the ratio's own variances (paired blocks, bench/analysis/stats.py
pair_within_var) and noise.json's ratio_run_var: a ratio that moved more
than the threshold beyond its noise is listed as higher or lower. Ratios hold
between runs far better than single times (the two arms alternate in blocks,
so the machine's drift cancels), so a framework that slowed shows there even
when the single times move too much between processes to tell.

--inject FRAMEWORK=FRACTION slows NEW's cases of one framework by FRACTION
(its medians and raw rounds, in memory; no file changes), to check what the
rule catches on real runs.

Two machines: when OLD and NEW were measured on different machines (their
fingerprints, bench/store/machine.py), the output is labelled "different
machines". Times do not travel between machines, so the per-case table is
printed for information only, with no verdicts, and the exit status is set
by the Keras/torch ratio test alone: a ratio compares two frameworks on one
machine, and is the figure that can be set beside another machine's.

Exit status: 0 without a regression, 1 with one or more (a case slower or a
ratio changed), 2 on bad input (a
missing file, missing columns, a cell that is not a number, two rows with one
case key, no case timed on both sides, a bad --threshold), in one line that
names the file and the problem.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..store import layout, machine, noise, raw
from ..store.schema import case_key, key_cell
from ..analysis.derived import timing
from .command_args import UsageError, parse_threshold
from ..store.dataframes import case_names, frame_of, timed
from ..store.markdown import text_table
from ..analysis.pairs import pair_measurements, pair_name
from ..store.schema import CASE_KEY, FILES, is_timed
from ..analysis.stats import case_within_var, change_direction, compare_t
from ..store.units import ms
from ..store.validate import check_csv, check_results_dir

COLUMNS = [*CASE_KEY, "status", "median_s", "iqr_s", "rounds"]
DEFAULT_THRESHOLD = "10%"


def parse_inject(text: str) -> tuple[str, float]:
    """"keras=0.2" -> ("keras", 0.2)."""
    framework, _, fraction = text.partition("=")
    try:
        value = float(fraction)
    except ValueError:
        value = float("nan")
    if framework not in ("keras", "torch") or not value > -1:
        raise argparse.ArgumentTypeError(f"takes keras=FRACTION or torch=FRACTION (0.2 for 20% slower); got {text!r}")
    return framework, value


def load(location: Path, inject: tuple[str, float] | None = None) -> tuple[pd.DataFrame, dict]:
    """The benchmark rows of a results directory or a benchmarks.csv, one row per (normalised) case key,
    with `within_var`, the variance of log(median) from its raw rounds (or its IQR); and its Keras/torch
    pairs (bench/analysis/pairs.py pair_measurements)."""
    path = _benchmarks_file(location)
    try:
        if location.is_dir():
            check_results_dir(location, kinds=("benchmarks",))
        # Whole, well-formed rows: a file cut short is not compared.
        rows = check_csv(path, "benchmarks")
        frame = frame_of(rows, COLUMNS, numbers=["median_s", "iqr_s"], path=path)
        rounds = raw.load(path.parent)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except ValueError as e:
        raise UsageError(str(e)) from e
    for column in CASE_KEY:
        frame[column] = frame[column].map(key_cell)
    if inject:  # scaling every round scales the median and leaves var(log median) as it was
        framework, fraction = inject
        frame.loc[frame["framework"] == framework, "median_s"] *= 1 + fraction
        rows = [{**r, "median_s": float(r["median_s"]) * (1 + fraction)} if r["framework"] == framework and is_timed(r) else r
                for r in rows]
        slowed = {case_key(r) for r in rows if r["framework"] == framework}
        rounds = {key: [[x * (1 + fraction) for x in block] for block in blocks] if key in slowed else blocks
                  for key, blocks in rounds.items()}  # the ratios come from the blocks (stats.ratio)
    repeated = frame.duplicated(CASE_KEY)
    if repeated.any():
        example = case_names(frame[repeated]).iloc[0]
        raise UsageError(f"{path}: {repeated.sum()} row(s) repeat a case key, e.g. {example}")
    records = frame.to_dict("records")
    timings = [timing(r, rounds) for r in records]  # each case's rounds, looked up once
    within = [case_within_var(t) for t in timings]
    frame = frame.assign(timed=timed(frame), name=case_names(frame), within_var=np.nan_to_num(within, nan=0.0),
                         blocks=[len(t.blocks) for t in timings])
    return frame, pair_measurements(rows, rounds)


def verdicts(matched: pd.DataFrame, threshold: float, run_var: float) -> pd.Series:
    """"slower", "faster" or "" per matched case: the rule of the module docstring."""
    return pd.Series(
        [change_direction(math.log(n / o), vo, vn, run_var, threshold, compare_t(bo, bn)) for o, n, vo, vn, bo, bn in zip(
            matched["median_s_old"], matched["median_s_new"], matched["within_var_old"], matched["within_var_new"],
            matched["blocks_old"], matched["blocks_new"])],
        index=matched.index, dtype=str,
    )


def run_variance(old_location: Path, new_location: Path, noise_dir: Path | None) -> tuple[dict, str]:
    """The run-to-run variances to test with (log time, log ratio), and where they came from."""
    candidates = [noise_dir] if noise_dir else [new_location, old_location]
    for location in candidates:
        directory = location if location.is_dir() else location.parent
        try:
            model = noise.load(directory)
        except ValueError as e:
            raise UsageError(str(e)) from e
        if model is not None:
            return model, f"run-to-run noise from {directory / noise.NOISE_FILE}"
    if noise_dir:
        raise UsageError(f"{noise_dir / noise.NOISE_FILE}: no such file")
    return {"time_run_var": 0.0, "ratio_run_var": 0.0}, ("no noise.json (python -m bench stability): the test knows only the rounds, "
                 "and two processes of the same code differ by more than those")


def _listing(title: str, lines: list[str]) -> list[str]:
    return [f"{title} ({len(lines)}):", *(f"  {line}" for line in lines)] if lines else []


def _untimed(paired: pd.DataFrame, side: str) -> list[str]:
    rows = paired[~paired[f"timed_{side}"].astype(bool)]
    return [f"{name}: {status or 'no median'}" for name, status in zip(rows[f"name_{side}"], rows[f"status_{side}"])]


def compare(old_location: Path, new_location: Path, threshold: float, noise_dir: Path | None = None,
            inject: tuple[str, float] | None = None) -> tuple[list[str], bool]:
    """The lines to print, and whether any case regressed or any Keras/torch ratio changed."""
    model, noise_note = run_variance(old_location, new_location, noise_dir)
    run_var = model["time_run_var"]
    (old, old_pairs), (new, new_pairs) = load(old_location), load(new_location, inject)
    both = old.merge(new, on=CASE_KEY, how="outer", suffixes=("_old", "_new"), indicator=True)
    paired = both[both["_merge"] == "both"]
    matched = paired[paired["timed_old"].astype(bool) & paired["timed_new"].astype(bool)]
    if matched.empty:
        raise UsageError(f"{old_location} and {new_location} have no case timed in both")
    table = pd.DataFrame(
        {
            "ratio": matched["median_s_new"] / matched["median_s_old"],
            "old_ms": ms(matched["median_s_old"]), "new_ms": ms(matched["median_s_new"]),
            "verdict": verdicts(matched, threshold, run_var), "case": matched["name_old"],
        }
    ).sort_values("ratio", ascending=False, kind="stable")
    machines = _machines(old_location, new_location)
    if machines:  # times of two machines differ by the machine: listed, never judged
        table["verdict"] = ""
    lines = [machines] if machines else []
    lines += text_table(["new/old", "old ms", "new ms", "verdict", "case"],
                       [[f"{r.ratio:.3f}", f"{r.old_ms:.4g}", f"{r.new_ms:.4g}", r.verdict, r.case] for r in table.itertuples()])
    lines += _listing(f"not timed in {old_location}, left out", _untimed(paired, "old"))
    lines += _listing(f"not timed in {new_location}, left out", _untimed(paired, "new"))
    lines += _listing(f"only in {old_location}", list(both.loc[both["_merge"] == "left_only", "name_old"]))
    lines += _listing(f"only in {new_location}", list(both.loc[both["_merge"] == "right_only", "name_new"]))
    slower, faster = (table["verdict"] == "slower").sum(), (table["verdict"] == "faster").sum()
    ratio_lines, ratios_changed = _ratio_changes(old_pairs, new_pairs, threshold, model["ratio_run_var"])
    lines += ratio_lines
    if inject:
        lines.append(f"injected: {inject[0]} cases of {new_location} slowed by {inject[1]:.0%} (in memory)")
    lines.append(noise_note)
    times = ("times not judged (different machines)" if machines else
             f"{slower} of {len(table)} case(s) slower by more than {threshold * 100:g}% beyond their noise, {faster} faster")
    lines.append(f"{times}; {ratios_changed} Keras/torch ratio(s) changed by more than {threshold * 100:g}% beyond their noise")
    return lines, slower > 0 or ratios_changed > 0


def _machines(old_location: Path, new_location: Path) -> str:
    """"different machines: ..." when the two sides were measured on different machines, else ""."""
    recorded = [layout.recorded_machine(p if p.is_dir() else p.parent) for p in (old_location, new_location)]
    if None in recorded or machine.same_machine(recorded[0], recorded[1]):
        return ""
    return (f"different machines: OLD {machine.describe(recorded[0])}, NEW {machine.describe(recorded[1])}; "
            "times are listed, not judged, and the exit status comes from the Keras/torch ratios alone")


def _ratio_changes(old: dict, new: dict, threshold: float, ratio_run_var: float) -> tuple[list[str], int]:
    """The Keras/torch ratios that changed (bench/analysis/stats.py change_direction, with the ratio's own noise), as lines.

    A ratio's two arms were timed in alternating blocks (bench/suite/session.py), so a
    change of the machine that slows both cancels in it: a framework that got
    slower shows here even when single case times move too much between runs
    to tell (noise.json's time_run_var against its ratio_run_var).
    """
    rows = []
    for key in sorted(old.keys() & new.keys()):
        (o, pair), (n, _) = old[key], new[key]
        lo, ln = o.log, n.log
        verdict = change_direction(ln - lo, o.var, n.var, ratio_run_var, threshold, compare_t(o.blocks, n.blocks))
        verdict = {"slower": "higher", "faster": "lower"}.get(verdict, "")
        if verdict:
            rows.append([f"{math.exp(lo):.3f}", f"{math.exp(ln):.3f}", verdict,
                         f"{pair_name(pair)} ({pair['keras_backend']}, {pair['device']}, compile {pair['compile']})"])
    if not rows:
        return [], 0
    return [f"Keras/torch ratios that changed ({len(rows)}):",
            *text_table(["old", "new", "verdict", "pair"], rows)], len(rows)


def add_arguments(parser) -> None:
    parser.add_argument("old", type=Path, help="the baseline: a results directory or its benchmarks.csv")
    parser.add_argument("new", type=Path, help="the run to check: a results directory or its benchmarks.csv")
    parser.add_argument(
        "--threshold", type=parse_threshold, default=DEFAULT_THRESHOLD,
        help="how much slower counts, beyond the measured noise: 10%% or 0.1 (default: %(default)s)",
    )
    parser.add_argument("--noise", type=Path, metavar="DIR", help="the noise.json to test with (default: NEW's, else OLD's)")
    parser.add_argument("--inject", type=parse_inject, metavar="FRAMEWORK=FRACTION",
                        help="slow NEW's keras or torch cases by FRACTION in memory, e.g. keras=0.2")


def _benchmarks_file(location: Path) -> Path:
    return location / FILES["benchmarks"] if location.is_dir() else location


def _location(given: Path) -> Path:
    """A path as given, or the machine directory of that name under results/."""
    if given.exists() or given.parent != Path("."):
        return given
    try:
        return layout.named_dir(layout.RESULTS_ROOT, str(given))
    except layout.LayoutError:
        known = ", ".join(layout.machine_dirs()) or "none"
        raise UsageError(f"{given}: no such file, directory or machine (machine directories: {known})") from None


def run(args) -> int:
    args.old, args.new = _location(args.old), _location(args.new)
    old, new = _benchmarks_file(args.old), _benchmarks_file(args.new)
    if old.exists() and new.exists() and old.samefile(new) and not args.inject:
        raise UsageError(f"OLD and NEW are the same file ({old}): give the baseline and the run to check")
    lines, regressed = compare(args.old, args.new, args.threshold, args.noise, args.inject)
    print("\n".join(lines))
    return 1 if regressed else 0
