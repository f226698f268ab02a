"""Sentences that quote numbers, written from the result files (README blocks and results/report.md).

Each function returns one block (bench/analysis/result_tables.py names them): the "In
short" bullets, the TimeDistributed-tax figures, the looped-over-fused
ratios of compiled Keras, the share of peak, the stability summary and
what `bench compare` detects of real extra work (detection.csv).
Words that interpret a trend stay in the README, outside the blocks, and
quote no number.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from ..store import markdown
from ..store.schema import COMMAND_FILES, FILES, MEASUREMENT_METHOD, METHOD_BEFORE_RECORDED
from ..store.files import read_csv
from ..store.validate import ResultsError
from ..store import noise
from .stats import EQUIVALENCE_MARGIN, equivalent

COMPILER_WORDS = {"off": "not compiled", "on": "compiled"}


def compiler_label(label: str) -> str:
    """A row's compiler without its measured count ("no jax.jit, recompiles every call (2 ...)")."""
    base, _, measured = label.partition(", recompile")
    return base + (", recompiled every call" if measured.startswith("s every call") else "")

def _read(path: Path, keep=lambda r: True) -> list[dict]:
    try:
        return [r for r in read_csv(path) if keep(r)]
    except ValueError as e:
        raise ResultsError(str(e)) from e


def _x(value: float) -> str:
    return f"{value:.2g}x" if value < 10 else f"{value:.0f}x"


def _span(values: list[float]) -> str:
    lo, hi = min(values), max(values)
    return _x(lo) if f"{lo:.2g}" == f"{hi:.2g}" else f"{_x(lo)[:-1]} to {_x(hi)}"


def in_short(results_dir: Path, profile: str = "quick") -> str:
    """Per Keras backend and compile setting: Keras/torch over the profile's default-head pairs."""
    rows = _read(results_dir / FILES["comparison"], lambda r: r["profile"] == profile and r["device"] == "cpu"
                 and (r["keras_head"], r["torch_head"]) in (("timedistributed", "broadcast"), ("n/a", "n/a")))
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["keras_backend"], r["compile"]), []).append(r)
    lines = []
    for (backend, compile), of_group in sorted(groups.items()):
        ratios = [float(r["keras_over_torch"]) for r in of_group]
        compilers = "/".join(sorted({compiler_label(r["keras_compiler"]) for r in of_group}))
        torch_compilers = "/".join(sorted({compiler_label(r["torch_compiler"]) for r in of_group}))
        decided = [r for r in of_group if r.get("ci_low") and r.get("ci_high")]
        verdict = ""
        if decided:
            intervals = [(float(r["ci_low"]), float(r["ci_high"])) for r in decided]
            same = sum(equivalent(lo, hi) for lo, hi in intervals)  # first: [1.01, 1.04] is the same, not slower
            slower = sum(lo > 1 and not equivalent(lo, hi) for lo, hi in intervals)
            faster = sum(hi < 1 and not equivalent(lo, hi) for lo, hi in intervals)
            verdict = (f"; by the 95% interval Keras is slower in {slower}, faster in {faster}, the same within "
                       f"±{EQUIVALENCE_MARGIN:.0%} in {same}, undecided in {len(decided) - slower - faster - same}")
        lines.append(
            f"- Keras on {backend} ({compilers}) against torch ({torch_compilers}): {_span(ratios)} torch's time, "
            f"median {_x(statistics.median(ratios))} over the {profile} profile's {len(ratios)} cases{verdict}."
        )
    return "\n".join(lines) + "\n"


def td_tax_figures(results_dir: Path) -> str:
    """Looped over fused at the shortest and longest sequence, per mode, Keras and native torch."""
    rows = _read(results_dir / FILES["td_tax"], lambda r: r["compile"] == "off")
    steps = sorted({int(r["timesteps"]) for r in rows})
    lines = []
    for topology in sorted({r["topology"] for r in rows}):
        for mode in ("train", "infer"):
            parts = []
            for t in dict.fromkeys((steps[-1], steps[0])):
                at = [r for r in rows if r["topology"] == topology and r["mode"] == mode and int(r["timesteps"]) == t]
                if not at:
                    continue
                keras = ", ".join(f"{float(r['tax']):.2f}x on {r['keras_backend']}" for r in at if r["framework"] == "keras")
                torch = [float(r["tax"]) for r in at if r["framework"] == "torch"]
                ort = ", ".join(f"{float(r['tax']):.2f}x for the {r['looped_head'].partition('-')[0]} export"
                                for r in at if r["framework"] == "onnxruntime")
                said = (([f"Keras {keras}"] if keras else [])
                        + ([f"{_span(torch)} on native torch ({len(torch)} run(s))"] if torch else [])
                        + ([f"ONNX Runtime {ort}"] if ort else []))
                parts.append(f"at {t} steps " + ", ".join(said))
            if parts:
                lines.append(f"- {topology} {mode}: looped over fused head, " + "; ".join(parts) + ".")
    return "\n".join(lines) + "\n"


def compiled_tax(results_dir: Path, profile: str = "quick") -> str:
    """Keras timedistributed over dense3d at the mid size, per topology and compiler (from benchmarks.csv)."""
    rows = _read(results_dir / FILES["benchmarks"], lambda r: r["profile"] == profile and r["framework"] == "keras"
                 and r["size"] == "mid" and r["device"] == "cpu" and r["status"] == "ok")
    pairs: dict[tuple, dict] = {}
    for r in rows:
        pairs.setdefault((r["topology"], r["mode"], r["keras_backend"], compiler_label(r["compiler"])), {})[r["head"]] = float(r["median_s"])
    by_problem: dict[tuple, list[str]] = {}
    for (topology, mode, backend, compiler), heads in sorted(pairs.items()):
        if "timedistributed" in heads and "dense3d" in heads:
            by_problem.setdefault((topology, mode), []).append(
                f"{heads['timedistributed'] / heads['dense3d']:.2f}x ({backend}, {compiler})")
    lines = [f"- {topology} {mode}: " + ", ".join(v) + "." for (topology, mode), v in by_problem.items()]
    return "\n".join(lines) + "\n"


def peak_share(results_dir: Path) -> str:
    """The best share of the measured matmul peak, per framework, and the best at the seed's sizes."""
    rows = _read(results_dir / FILES["benchmarks"], lambda r: r["status"] == "ok" and r["peak_fraction"])
    lines = []
    for framework in ("torch", "keras"):
        of = [r for r in rows if r["framework"] == framework]
        if not of:
            continue
        best = max(of, key=lambda r: float(r["peak_fraction"]))
        seed = [float(r["peak_fraction"]) for r in of if r["size"] == "seed"]
        lines.append(
            f"- {framework}: at best {float(best['peak_fraction']):.0%} of peak ({float(best['gflops']):.3g} of "
            f"{float(best['peak_gflops']):.3g} GFLOP/s; {best['topology']} {best['size']} {best['mode']}, "
            f"{best['backend']} {best['compiler']})" + (f"; at the seed's sizes at most {max(seed):.1%}" if seed else "") + "."
        )
    return "\n".join(lines) + "\n"


def _taken(model: dict) -> str:
    when = model.get("runs_taken", "").replace("+00:00", "")
    code = f", code {model['code']}" if model.get("code") else ""
    return f" (taken {when} UTC{code})" if when else ""


def stability_summary(results_dir: Path) -> str:
    """What `python -m bench stability` found (results/noise.json)."""
    try:
        model = noise.load(results_dir)
    except ValueError as e:
        raise ResultsError(str(e)) from e
    s, rates = model["summary"], model["compare_rates"]
    blocks = f", {model['blocks']} blocks per case" if model.get("blocks") else ", one block per case"
    method = model.get("method", METHOD_BEFORE_RECORDED)
    retired = "" if str(method) == str(MEASUREMENT_METHOD) else (
        f"; measurement method {method}, retired: this noise model widens no interval of the current method")
    lines = [
        f"- {model['profile']} profile, Keras on {model['keras_backend']}, {model['threads']} thread(s){blocks}{retired}, "
        f"{model['runs']} processes{_taken(model)}: {s['within_5pct']:.0%} of {s['pairs']} Keras/torch ratios within 5% "
        f"(max/min <= 1.05), {s['within_10pct']:.0%} within 10%; worst {s['worst_pair']} "
        f"(max/min {s['worst_max_over_min']:.3f}).",
        f"- A run's ratio falls inside another run's interval for {s['coverage']:.0%} of pairs "
        f"({s['within_only_coverage']:.0%} with an interval from one run alone, without the run-to-run term).",
    ]
    if s.get("order_pairs", 0) >= 2:  # sets analysed since block start times were read
        lines.append(f"- Order within a block (ABBA, each arm first in half the blocks): a ratio measured with Keras first "
                     f"is {s['order_effect']:+.2%} off the same ratio with torch first (mean over {s['order_pairs']} "
                     f"pair-runs, standard error {s['order_effect_se']:.2%}); the published ratio takes both orders equally.")
    if "detect_rate" not in rates:  # method 2: A/A under the joint rule, detection from --extra-work runs
        lines.append(
            f"- `bench compare` on every two of these runs (identical code; every case and ratio tested together, "
            f"false discovery rate 5%): flags {rates['aa_flagged']} of {rates['aa_cases']} case tests and "
            f"{rates['pair_aa_flagged']} of {rates['pair_aa_pairs']} ratio tests with the noise these runs show"
            + (f"; {rates['held_out_aa_flagged']} and {rates['held_out_pair_aa_flagged']} with the noise model of the "
               f"earlier sets alone (held out: fitted without these runs)" if "held_out_aa_cases" in rates else "") + ".")
        pool = (f"; with the pool's term for every pair instead: {s['held_out_pool_coverage']:.0%}, lowest pair "
                f"{s['held_out_pool_min_pair']:.0%}") if "held_out_pool_coverage" in s else ""
        lines.append(f"- Held-out coverage ({s['held_out_how']}): {s['held_out_coverage']:.0%} of reruns inside the "
                     f"rerun interval; lowest pair {s['held_out_min_pair']:.0%}{pool}.")
    else:  # a set of measurement method 1: its rates as that method's stability measured them
        lines.append(
            f"- `bench compare` on these runs, single case times: flags {rates['aa_flag_rate']:.1%} of {rates['aa_cases']} "
            f"cases of identical code (A/A); catches {rates['detect_rate']:.1%} of {rates['detect_cases']} cases slowed by "
            f"{model['inject']:.0%} (measurement method 1: rounds scaled in memory, a check that could not fail).")
    if "pair_detect_rate" in rates:  # method 1, since it tested ratios too
        lines.append(
            f"- `bench compare` on these runs, Keras/torch ratios: flags {rates['pair_aa_flag_rate']:.1%} of "
            f"{rates['pair_aa_pairs']} ratios of identical code (A/A); catches {rates['pair_detect_rate']:.1%} of "
            f"{rates['pair_detect_pairs']} ratios with one framework slowed by {model['inject']:.0%}."
        )
    if retired:
        lines.append("- The intervals in these results no longer use this noise model: it was fitted under a retired "
                     "measurement method, so each comes from its run's own blocks (`interval_noise`).")
    elif "pooled_sets" in model:  # written by stability since it pools its history
        lines.append(
            f"- Every interval in these results uses the run-to-run noise pooled over {len(model['pooled_sets'])} set(s) "
            f"with these settings (below): sd of log ratio {math.sqrt(model['ratio_run_var']):.4f}, of log time "
            f"{math.sqrt(model['time_run_var']):.4f}; and a ratio's move between those sets beyond it: sd of log ratio "
            f"{noise.set_sd_text(model)}{_pair_terms(model)}. With these, a run's ratio falls inside another run's "
            f"interval for {model['pooled_coverage']:.0%} of pairs of the newest set."
        )
    if (results_dir / COMMAND_FILES["stability_history"]).exists():
        lines.append(f"- Every set of stability runs of this machine: `{COMMAND_FILES['stability_history']}` and the "
                     f"set's report (\"Stability sets\").")
    return "\n".join(lines) + "\n"


def _pair_terms(model: dict) -> str:
    """How the pairs' own run-to-run terms stand to the pool (bench/analysis/pair_noise.py), if the model has them."""
    prior = model.get("pair_prior")
    if not prior:
        return ""
    if prior["df"] is None:
        return "; every pair takes the pool's run-to-run term, as their own variances agree within chance"
    return (f"; each of {prior['pairs']} pairs has its own run-to-run term instead, shrunk toward the pool "
            f"(prior {prior['df']:.1f} degrees of freedom; sd of log ratio from "
            f"{math.sqrt(min(p['run_var'] for p in model['pairs'])):.4f} to {math.sqrt(max(p['run_var'] for p in model['pairs'])):.4f})")


def _signed(value: float) -> str:
    return f"{value * 100:+.1f}%"


def _detection_groups(rows: list[dict]) -> dict[tuple, list[dict]]:
    """(framework, fraction) -> its rows, in the order of the fractions."""
    groups: dict[tuple, list[dict]] = {}
    for r in sorted(rows, key=lambda r: (r["framework"], float(r["fraction"]))):
        groups.setdefault((r["framework"], float(r["fraction"])), []).append(r)
    return groups


def _held_out_words(rows: list[dict]) -> str:
    held = [r["held_out"] == "True" for r in rows]
    sets = len({s for r in rows for s in r["noise_sets"].split("; ") if s})
    if all(held):
        return f"a noise model fitted without any of these runs ({sets} set(s) of stability runs; held out)"
    if not any(held):
        return f"a noise model fitted to sets that include these runs ({sets} set(s); in-sample, not held out)"
    return f"a noise model held out from {sum(held)} of {len(held)} comparisons ({sets} set(s))"


def detection_summary(results_dir: Path) -> str:
    """What `python -m bench detection` found (detection.csv): per fraction of extra work, the achieved
    shift of Keras/torch and the share of ratios `bench compare` flags at each threshold."""
    rows = _read(results_dir / COMMAND_FILES["detection"])
    if not rows:
        raise ResultsError(f"{results_dir / COMMAND_FILES['detection']}: no rows")
    taken = [t for r in rows for t in (r["clean_taken"], r["slowed_taken"]) if t]
    when = _when(f"{min(t.split(' .. ')[0] for t in taken)} .. {max(t.split(' .. ')[-1] for t in taken)}") if taken else ""
    codes = ", ".join(dict.fromkeys(c for r in rows for c in (r["clean_code"], r["slowed_code"]) if c))
    clean = len({r["clean_run"] for r in rows})
    lines = [
        f"- `bench compare` (every case and Keras/torch ratio of two runs tested together, false discovery rate 5%) "
        f"on {'a clean run' if clean == 1 else f'{clean} clean runs'} against runs with a known fraction of extra work in one framework's timed calls "
        f"(`--extra-work`; {rows[0]['profile']} profile, Keras on {rows[0]['keras_backend']}"
        + (f", taken {when} UTC" if when else "") + (f", code {codes}" if codes else "")
        + f"), with {_held_out_words(rows)}:"]
    for (framework, fraction), of in _detection_groups(rows).items():
        by_threshold: dict[float, list[dict]] = {}
        for r in of:
            by_threshold.setdefault(float(r["threshold"]), []).append(r)
        thresholds = sorted(by_threshold)
        shares = [sum(int(r["ratios_flagged"]) for r in by_threshold[t]) / sum(int(r["ratios_tested"]) for r in by_threshold[t])
                  for t in thresholds]
        first = next(iter(by_threshold.values()))
        tested = int(first[0]["ratios_tested"])
        shift = statistics.median(float(r["shift"]) for r in first)
        direction = "lower" if framework == "torch" else "higher"
        lines.append(
            f"- {fraction:.0%} more work in {framework}: Keras/torch moved {_signed(shift)} (median of {tested} "
            f"ratios; the extra work alone: {_signed(float(first[0]['expected_shift']))}); flagged {direction} at threshold "
            f"{' / '.join(f'{t * 100:g}%' for t in thresholds)}: {' / '.join(f'{x:.0%}' for x in shares)} of the ratios"
            + (f" of {len(first)} comparisons with a clean run" if len(first) > 1 else "") + ".")
    lines.append(f"- Every comparison, with the cases flagged: `{COMMAND_FILES['detection']}` and the set's report "
                 "(\"Detection\").")
    return "\n".join(lines) + "\n"


def detection_table(results_dir: Path) -> str:
    """Every row of detection.csv: one slowed run against one clean run at one threshold."""
    rows = _read(results_dir / COMMAND_FILES["detection"])
    header = ["extra work", "clean run taken (UTC)", "threshold", "ratios flagged", "flagged the other way",
              "slowed framework's cases flagged slower", "other cases flagged", "shift", "extra work alone", "held out"]
    body = [[r["extra_work"], _when(r["clean_taken"]) or "not recorded", f"{float(r['threshold']) * 100:g}%",
             f"{r['ratios_flagged']} of {r['ratios_tested']}", r["ratios_flagged_other_way"],
             f"{r['cases_flagged_slower']} of {r['cases_tested']}", r["other_cases_flagged"],
             _signed(float(r["shift"])), _signed(float(r["expected_shift"])), "yes" if r["held_out"] == "True" else "no"]
            for group in _detection_groups(rows).values() for r in group]
    return "\n".join(["", f"Noise model: `{rows[0]['noise_source']}`.", "", *markdown.table(header, body)]) + "\n"


def _pct(value: str, digits: int = 0) -> str:
    return f"{float(value):.{digits}%}" if value not in ("", None) else ""


def _when(runs_taken: str) -> str:
    """"2026-11-28T09:05:10+00:00 .. 2026-11-28T09:11:54+00:00" -> "2026-11-28 09:05-09:11"."""
    first, _, last = runs_taken.replace("+00:00", "").partition(" .. ")
    if first[:10] == last[:10] and len(first) >= 16 and len(last) >= 16:
        return f"{first[:10]} {first[11:16]}-{last[11:16]}"
    return runs_taken.replace("+00:00", "")


def _changes(row: dict) -> str:
    """"1.2% / 1.4%": a set's median ratio change between runs, as published and as the quotient of medians."""
    paired, quotient = row.get("median_change"), row.get("median_change_quotient")
    return f"{_pct(paired, 1)} / {_pct(quotient, 1)}" if paired not in ("", None) else "not recorded"


def _sd(value) -> str:
    return f"{float(value):.3f}" if value not in ("", None) else "not recorded"


HISTORY_SHOWN = 6  # the README's table keeps the newest sets; the file keeps every set


def _gc(row: dict) -> str:
    """', GC off' for a set timed with the garbage collector off during rounds (the default since it was recorded)."""
    return ", GC off" if row.get("gc") == "off" else ""


def stability_history(results_dir: Path) -> str:
    """The newest HISTORY_SHOWN sets of stability runs analysed into results/ (stability_history.csv), oldest first."""
    path = results_dir / COMMAND_FILES["stability_history"]
    rows = _read(path) if path.exists() else []
    if len(rows) < 2:
        return ""
    older, rows = rows[:-HISTORY_SHOWN], rows[-HISTORY_SHOWN:]
    header = ["runs taken (UTC)", "code", "settings", "within 5%", "within 10%", "worst max/min",
              "median change: paired / quotient", "sd between blocks, log ratio", "coverage", "run-to-run sd, log time",
              "compare on times: A/A, caught", "compare on ratios: A/A, caught"]
    body = [[_when(r["runs_taken"]), r["code"] or "not recorded",
             f"{r['profile']}, {r['keras_backend']}, {r['threads']} thread(s), {r['blocks'] or 1} blocks{_gc(r)}, "
             f"{r['runs']} runs, method {r.get('method') or METHOD_BEFORE_RECORDED}",
             _pct(r["within_5pct"]), _pct(r["within_10pct"]), f"{float(r['worst_max_over_min']):.3f}",
             _changes(r), _sd(r.get("block_ratio_sd")), _pct(r["coverage"]), f"{float(r['time_run_sd']):.3f}",
             f"{_pct(r['aa_flag_rate'], 1)}, {_pct(r['detect_rate'], 1)}",  # as the lines above print them
             f"{_pct(r['pair_aa_flag_rate'], 1)}, {_pct(r['pair_detect_rate'], 1)}"] for r in rows]
    if older:
        intro = (f"The newest {len(rows)} sets of stability runs analysed into this directory, oldest first "
                 f"(`{path.name}` holds them and {len(older)} older set(s); code: the commit the runs timed):")
    else:
        intro = (f"Every set of stability runs analysed into this directory, oldest first (`{path.name}`; "
                 "code: the commit the runs timed):")
    return "\n".join(["", intro, "", *markdown.table(header, body)]) + "\n"
