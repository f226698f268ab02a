"""`python -m bench detection --clean DIR... --slowed DIR...`: what `bench compare` catches of real extra work.

A --slowed run is the suite timed with a known fraction of extra work in one
framework's timed calls (`pytest bench/ --extra-work torch=0.1 --results-dir
DIR`, bench/suite/extra_work.py; its environment.json records `extra_work`);
a --clean run is the same suite without it. Each slowed run is compared with
each clean run by `bench compare`'s own test (bench/analysis/change_tests.py
joint_tests: every case and every Keras/torch ratio tested together, one
false discovery rate over them all, stats.judge) at each --thresholds value,
with the noise model of --noise-from DIR (its noise.json), else of the
results directory. For each (slowed run, clean run, threshold), detection.csv
holds:

- the Keras/torch ratios flagged in the direction the extra work moves them
  (extra work in torch lowers Keras/torch, in Keras raises it), of those
  tested, and those flagged the other way;
- the slowed framework's cases flagged slower, of its cases tested, and the
  other frameworks' cases flagged at all;
- the achieved shift: the median change of the Keras/torch ratio from the
  clean run to the slowed one (as a fraction, -0.09 for 9% lower), beside
  what the fraction of extra work alone would give (1/(1 + f) - 1 in torch,
  f in Keras);
- provenance: the runs, when they were taken and the code they timed, their
  settings, the noise model's file and the sets it pooled, and `held_out`:
  true only when none of these runs is among the runs the noise model was
  fitted to (noise.json `run_dirs`) or taken within a set it pooled
  (`pooled_sets`, "start .. end" against each run's environment.json dates).

detection.csv holds the newest analysis; `bench table --readme` and `bench
report` quote it (bench/analysis/generated_text.py detection_summary). The
false alarms of the same rule on runs of identical code are `bench
stability`'s, held out from its noise model too (its A/A).

Bad input is one line and exit status 2: a --slowed run without extra work,
a --clean run with it, extra work that moves no Keras/torch ratio
(onnxruntime), runs of another machine than the results directory's, no
noise model, a directory that is not a run.
"""

from __future__ import annotations

import argparse
import math
import statistics
from datetime import datetime
from pathlib import Path

from ..analysis import change_tests
from ..analysis.stats import FALSE_DISCOVERY_RATE, judge
from ..store import layout, lock, noise
from ..store.files import write_csv
from ..store.machine import describe, same_machine
from ..store.markdown import text_table
from ..store.results import load_environment, runs_provenance
from ..store.schema import COMMAND_FILES
from ..suite import extra_work as extra
from ..suite.environment import today
from .command_args import UsageError, parse_threshold, results_to_write

DETECTION_FILE = COMMAND_FILES["detection"]
DEFAULT_THRESHOLDS = "0,0.02,0.10"
SETTINGS = ("profile", "keras_backend", "compile", "threads", "blocks", "method")
DETECTION_COLUMNS = [
    "extra_work", "framework", "fraction", "threshold",
    "ratios_tested", "ratios_flagged", "ratios_flagged_other_way", "ratio_detect_rate",
    "cases_tested", "cases_flagged_slower", "other_cases_flagged", "shift", "expected_shift",
    "slowed_run", "slowed_taken", "slowed_code", "clean_run", "clean_taken", "clean_code", *SETTINGS,
    "noise_source", "noise_sets", "held_out", "analysed",
]
# The verdict (stats.judge) a Keras/torch ratio gets when the extra work is in this framework's calls.
RATIO_MOVES = {"torch": "faster", "keras": "slower"}


def parse_thresholds(text: str) -> list[float]:
    """"0,2%,0.1" -> [0.0, 0.02, 0.1]: compare's --threshold (command_args.parse_threshold) each."""
    values = [parse_threshold(part.strip()) for part in text.split(",") if part.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"give one or more thresholds separated by commas; got {text!r}")
    return sorted(set(values))


def add_arguments(parser) -> None:
    parser.add_argument("--clean", type=Path, nargs="+", required=True, metavar="DIR",
                        help="run directories of the suite without extra work")
    parser.add_argument("--slowed", type=Path, nargs="+", required=True, metavar="DIR",
                        help="run directories timed with --extra-work FRAMEWORK=FRACTION (environment.json extra_work)")
    parser.add_argument("--noise-from", type=Path, metavar="DIR",
                        help="test with DIR's noise.json (default: the results directory's)")
    parser.add_argument("--thresholds", type=parse_thresholds, default=DEFAULT_THRESHOLDS, metavar="T,T,...",
                        help="compare's --threshold values to test at, fractions or percentages (default: %(default)s)")
    parser.add_argument("--results-dir", type=Path, default=None, metavar="DIR",
                        help="where detection.csv goes (default: this machine's directory under results/)")


# --- the runs ------------------------------------------------------------------------------------


def recorded_extra_work(run_dir: Path) -> str | None:
    """The run's environment.json `extra_work` ("torch=0.1"), None for a clean run; a run whose slices
    disagree, or that has no slices, is a UsageError."""
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir}: no such directory")
    try:
        slices = load_environment(run_dir)["slices"]
    except ValueError as e:
        raise UsageError(str(e)) from e
    if not slices:
        raise UsageError(f"{run_dir}: no environment.json with slices; give a directory a suite run wrote")
    values = {env.get("extra_work") or None for env in slices.values()}
    if len(values) > 1:
        raise UsageError(f"{run_dir}: its slices were timed with different extra work "
                         f"({', '.join(sorted(str(v) for v in values))}); give runs of one setting")
    return values.pop()


def slowed_framework(run_dir: Path, recorded: str | None) -> tuple[str, float]:
    if recorded is None:
        raise UsageError(f"--slowed {run_dir}: no extra work recorded (environment.json extra_work); "
                         "time it with pytest bench/ --extra-work FRAMEWORK=FRACTION --results-dir DIR")
    try:
        framework, fraction = extra.parse(recorded)
    except ValueError as e:
        raise UsageError(f"--slowed {run_dir}: environment.json extra_work: {e}") from None
    if framework not in RATIO_MOVES:
        raise UsageError(f"--slowed {run_dir}: extra work in {framework} ({recorded}) moves no Keras/torch ratio; "
                         f"give runs slowed in {' or '.join(RATIO_MOVES)}")
    return framework, fraction


def check_one_machine(results_dir: Path, dirs: list[Path]) -> None:
    """Every run, and the results directory, of one machine (where they record theirs)."""
    recorded = [(d, layout.recorded_machine(d)) for d in [results_dir, *dirs] if d.is_dir()]
    recorded = [(d, m) for d, m in recorded if m]
    for d, m in recorded[1:]:
        first, machine = recorded[0]
        if not same_machine(m, machine):
            raise UsageError(f"{d} was measured on {describe(m)}, {first} on {describe(machine)}: "
                             "detection compares runs of one machine")


def _interval(taken: str) -> tuple[datetime, datetime]:
    start, _, end = taken.partition(" .. ")
    return datetime.fromisoformat(start), datetime.fromisoformat(end or start)


def held_out(model: dict, dirs: list[Path]) -> tuple[bool, str]:
    """Whether the noise model was fitted without every run in `dirs`, and why (or why not).

    A run is among the model's when it is one of its newest set's `run_dirs`, or was taken (its
    environment.json dates) within one of its `pooled_sets` ("start .. end", as stability records them).
    A run without dates, or a model that names no sets, cannot be shown held out: false.
    """
    fitted = {Path(d).resolve() for d in model.get("run_dirs") or []}
    sets = model.get("pooled_sets") or ([model["runs_taken"]] if model.get("runs_taken") else [])
    if not sets:
        return False, "the noise model names no sets it pooled: not shown held out"
    try:
        intervals = [(s, _interval(s)) for s in sets]
    except ValueError:
        return False, f"the noise model's pooled_sets are not \"start .. end\" dates ({sets}): not shown held out"
    for d in dirs:
        if d.resolve() in fitted:
            return False, f"{d} is one of the runs the noise model was fitted to (in-sample)"
        taken = runs_provenance([d])["runs_taken"]
        if not taken:
            return False, f"{d}: no dates in environment.json, so not shown held out"
        start, end = _interval(taken)
        for text, (lo, hi) in intervals:
            if start <= hi and lo <= end:
                return False, f"{d} (taken {taken}) falls in the set {text} the noise model pooled (in-sample)"
    return True, f"held out: fitted to {len(sets)} set(s) ({'; '.join(sets)}), none of these runs among them"


# --- the analysis ------------------------------------------------------------------------------------


def detection_rows(clean: Path, slowed: Path, loaded: dict, framework: str, fraction: float, model: dict,
                   thresholds: list[float]) -> list[dict]:
    """One row per threshold: compare's joint test of `clean` (old) against `slowed` (new)."""
    (old, old_pairs), (new, new_pairs) = loaded[clean], loaded[slowed]
    _, _, matched = change_tests.match(old, new, clean, slowed)
    cases, pair_keys, pair_tests = change_tests.joint_tests(matched, old_pairs, new_pairs, model)
    if not pair_tests:
        raise UsageError(f"{clean} and {slowed} have no Keras/torch pair timed in both")
    of_slowed = list(matched["framework"] == framework)
    changes = [new_pairs[k][0].log - old_pairs[k][0].log for k in pair_keys]
    shift = math.expm1(statistics.median(changes))
    expected = 1 / (1 + fraction) - 1 if framework == "torch" else fraction
    moved = RATIO_MOVES[framework]
    rows = []
    for threshold in thresholds:
        verdicts = judge(cases + pair_tests, threshold)  # one false discovery rate over every test, as compare
        case_verdicts, ratio_verdicts = verdicts[:len(cases)], verdicts[len(cases):]
        flagged = sum(v == moved for v in ratio_verdicts)
        rows.append({
            "framework": framework, "fraction": fraction, "threshold": threshold,
            "ratios_tested": len(pair_tests), "ratios_flagged": flagged,
            "ratios_flagged_other_way": sum(v not in ("", moved) for v in ratio_verdicts),
            "ratio_detect_rate": flagged / len(pair_tests),
            "cases_tested": sum(of_slowed),
            "cases_flagged_slower": sum(s and v == "slower" for s, v in zip(of_slowed, case_verdicts)),
            "other_cases_flagged": sum(not s and v != "" for s, v in zip(of_slowed, case_verdicts)),
            "shift": shift, "expected_shift": expected,
        })
    return rows


def check_runs(clean_dirs: list[Path], slowed_dirs: list[Path]) -> dict[Path, tuple[str, float]]:
    """Each slowed run's (framework, fraction); a clean run with extra work, or a slowed one without, is refused."""
    for d in clean_dirs:
        recorded = recorded_extra_work(d)
        if recorded is not None:
            raise UsageError(f"--clean {d}: was timed with extra work ({recorded}); give it as --slowed")
    return {d: slowed_framework(d, recorded_extra_work(d)) for d in slowed_dirs}


def analyse(clean_dirs: list[Path], slowed: dict[Path, tuple[str, float]], model: dict, source: str,
            thresholds: list[float]) -> tuple[list[dict], str]:
    """detection.csv's rows, and the held-out note. `slowed`: check_runs'."""
    slowed_dirs = list(slowed)
    is_held_out, note = held_out(model, [*clean_dirs, *slowed_dirs])
    loaded = {d: change_tests.load(d) for d in dict.fromkeys([*clean_dirs, *slowed_dirs])}
    provenance = {d: runs_provenance([d]) for d in loaded}
    sets = model.get("pooled_sets") or ([model["runs_taken"]] if model.get("runs_taken") else [])
    rows = []
    for s, (framework, fraction) in slowed.items():
        for c in clean_dirs:
            settings = runs_provenance([c, s])["settings"]
            for row in detection_rows(c, s, loaded, framework, fraction, model, thresholds):
                rows.append({**row, "extra_work": f"{framework}={fraction:g}",
                             "slowed_run": str(s), "slowed_taken": provenance[s]["runs_taken"],
                             "slowed_code": provenance[s]["code"], "clean_run": str(c),
                             "clean_taken": provenance[c]["runs_taken"], "clean_code": provenance[c]["code"],
                             **{k: settings.get(k, "") for k in SETTINGS},
                             "noise_source": source, "noise_sets": "; ".join(sets), "held_out": is_held_out,
                             "analysed": today()})
    return rows, note


def _pct(x: float) -> str:
    return f"{x * 100:+.1f}%"


def lines_of(rows: list[dict], note: str, source: str) -> list[str]:
    table = text_table(
        ["extra work", "clean run", "threshold", "ratios flagged", "other way", "cases slower", "shift", "work alone"],
        [[r["extra_work"], r["clean_run"], f"{r['threshold'] * 100:g}%",
          f"{r['ratios_flagged']} of {r['ratios_tested']} ({r['ratio_detect_rate']:.0%})",
          r["ratios_flagged_other_way"], f"{r['cases_flagged_slower']} of {r['cases_tested']}",
          _pct(r["shift"]), _pct(r["expected_shift"])] for r in rows])
    return [*table,
            f"bench compare's test (every case and Keras/torch ratio of two runs together, false discovery rate "
            f"{FALSE_DISCOVERY_RATE:.0%}); ratios flagged: in the direction the extra work moves them; shift: the "
            "median change of Keras/torch from the clean run, beside what the extra work alone would give",
            f"noise model {source}: {note}"]


def run(args) -> int:
    slowed = check_runs(args.clean, args.slowed)
    results_dir = args.results_dir = results_to_write(args)
    source_dir = args.noise_from or results_dir
    try:
        model = noise.load(source_dir)
    except ValueError as e:
        raise UsageError(str(e)) from e
    if model is None:
        raise UsageError(f"{source_dir / noise.NOISE_FILE}: no such file; give --noise-from DIR "
                         "(a noise model from python -m bench stability)")
    source = str(source_dir / noise.NOISE_FILE)
    check_one_machine(results_dir, [*args.clean, *args.slowed])
    rows, note = analyse(args.clean, slowed, model, source, args.thresholds)
    print("\n".join(lines_of(rows, note, source)))
    with lock.held(results_dir):
        write_csv(results_dir / DETECTION_FILE, rows, DETECTION_COLUMNS)
    print(f"wrote {DETECTION_FILE} in {results_dir}/")
    return 0
