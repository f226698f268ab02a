"""`python -m bench compare OLD NEW [--threshold 10%]`: what got slower between two result sets.

OLD and NEW are results directories (their benchmarks.csv), benchmarks.csv
files, or the names of machine directories under results/ (`ls results/`). Rows are matched by their case key (bench/store/schema.py case_key). A row
that was not timed (status other than "ok", or no median) is listed and left
out; so is a case present on one side only.

Case keys are compared as values, not as text: 1000 and 1000.0 are one size,
an empty cell and NaN are one blank (bench/store/schema.py key_cell), so a CSV
re-saved by pandas still matches its original.

A case is slower (or faster) when its change is beyond the threshold, as a
test over every case and every Keras/torch ratio at once:

    p = P(T > (|log(new_median / old_median)| - log(1 + threshold)) / se)
    se = sqrt(var_old + var_new + 2 * var_run)

the one-sided p-value of "the true change is within the threshold"
(bench/analysis/stats.py excess_p_value), and a change counts when
Benjamini-Hochberg calls it a discovery with the false discovery rate at 5%
over all tests (stats.benjamini_hochberg): of the changes reported, at most
5% are expected to be noise, however many cases the sets hold. T is
Student's t with the fewer side's blocks - 1 degrees of freedom, the normal
for variances from rounds alone. var_old and var_new are each case's
within-run variance (the larger of its rounds' bootstrap and its block
medians' spread, stats.case_within_var; from the IQR and round count without
raw rounds); var_run is the machine's run-to-run variance of one case's log
time, from `python -m bench stability` (noise.json: --noise DIR, else NEW's,
else OLD's). Without one the test knows only the rounds and flags the
ordinary difference between two processes as a change: it says so.

The same test is applied to every Keras/torch ratio (comparison.csv's pairs,
bench/analysis/pairs.py) with the ratio's own variances (paired blocks,
stats.pair_within_var) and noise.json's ratio_run_var: a ratio that moved
beyond the threshold is listed as higher or lower. Ratios hold between runs
far better than single times (the two arms alternate in blocks, so the
machine's drift cancels), so a framework that slowed shows there even when
the single times move too much between processes to tell.

What the test catches is measured on real runs: `pytest bench/ --extra-work
torch=0.1 --results-dir DIR` adds a known fraction of work to one
framework's timed calls (bench/suite/extra_work.py), and comparing a clean
run with it shows the detection rate (`python -m bench detection`,
bench/commands/detection.py, counts it with the same tests,
bench/analysis/change_tests.py); two clean
runs show the false alarms.

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

import math
from pathlib import Path

import pandas as pd

from ..store import layout, machine, noise
from .command_args import UsageError, parse_threshold
from ..store.markdown import text_table
from ..analysis.change_tests import benchmarks_file, joint_tests, load, match
from ..analysis.pairs import pair_name
from ..analysis.stats import FALSE_DISCOVERY_RATE, ChangeTest, judge
from ..store.units import ms

DEFAULT_THRESHOLD = "10%"


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


def compare(old_location: Path, new_location: Path, threshold: float, noise_dir: Path | None = None) -> tuple[list[str], bool]:
    """The lines to print, and whether any case regressed or any Keras/torch ratio changed."""
    model, noise_note = run_variance(old_location, new_location, noise_dir)
    (old, old_pairs), (new, new_pairs) = load(old_location), load(new_location)
    both, paired, matched = match(old, new, old_location, new_location)
    machines = _machines(old_location, new_location)
    # times of two machines are listed, never judged
    cases, pair_keys, pair_tests = joint_tests(matched, old_pairs, new_pairs, model, times=not machines)
    verdicts = judge(cases + pair_tests, threshold)  # one false discovery rate over every test
    table = pd.DataFrame(
        {
            "ratio": matched["median_s_new"] / matched["median_s_old"],
            "old_ms": ms(matched["median_s_old"]), "new_ms": ms(matched["median_s_new"]),
            "verdict": verdicts[:len(cases)] or [""] * len(matched), "case": matched["name_old"],
        }
    ).sort_values("ratio", ascending=False, kind="stable")
    lines = [machines] if machines else []
    lines += text_table(["new/old", "old ms", "new ms", "verdict", "case"],
                       [[f"{r.ratio:.3f}", f"{r.old_ms:.4g}", f"{r.new_ms:.4g}", r.verdict, r.case] for r in table.itertuples()])
    lines += _listing(f"not timed in {old_location}, left out", _untimed(paired, "old"))
    lines += _listing(f"not timed in {new_location}, left out", _untimed(paired, "new"))
    lines += _listing(f"only in {old_location}", list(both.loc[both["_merge"] == "left_only", "name_old"]))
    lines += _listing(f"only in {new_location}", list(both.loc[both["_merge"] == "right_only", "name_new"]))
    slower, faster = (table["verdict"] == "slower").sum(), (table["verdict"] == "faster").sum()
    ratio_lines, ratios_changed = _ratio_lines(old_pairs, new_pairs, pair_keys, pair_tests, verdicts[len(cases):])
    lines += ratio_lines
    lines.append(noise_note)
    lines.append(f"{len(cases) + len(pair_tests)} tests (cases and Keras/torch ratios), judged together: a change counts "
                 f"when it is beyond {threshold * 100:g}% with the false discovery rate held at "
                 f"{FALSE_DISCOVERY_RATE:.0%} (Benjamini-Hochberg)")
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


def _ratio_lines(old: dict, new: dict, keys: list, tests: list[ChangeTest], verdicts: list[str]) -> tuple[list[str], int]:
    """The Keras/torch ratios judged changed, as lines, and how many."""
    rows = []
    for key, verdict in zip(keys, verdicts):
        if verdict:
            (o, pair), (n, _) = old[key], new[key]
            rows.append([f"{math.exp(o.log):.3f}", f"{math.exp(n.log):.3f}", {"slower": "higher", "faster": "lower"}[verdict],
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
    old, new = benchmarks_file(args.old), benchmarks_file(args.new)
    if old.exists() and new.exists() and old.samefile(new):
        raise UsageError(f"OLD and NEW are the same file ({old}): give the baseline and the run to check")
    lines, regressed = compare(args.old, args.new, args.threshold, args.noise)
    print("\n".join(lines))
    return 1 if regressed else 0
