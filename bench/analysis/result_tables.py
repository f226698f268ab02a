"""Markdown written from the result files: the README's generated blocks and the report's detail sections.

Not a command: `bench table` (README blocks, printed or rewritten in place)
and `bench report` (results/report.md) both write from here, so a number in
either comes from a file of results/ and never from a hand. Each block is
one function of the results directory; README_BLOCKS are those the README
holds, DETAIL_BLOCKS the rest, which results/report.md holds. A problem with
a file is a ResultsError naming it (exit status 2 in the CLI).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..store import layout, markdown

from . import compile_cost, generated_text
from ..store.results import load_environment
from ..store.schema import COMMAND_FILES, FILES, MODES, SLICE_COLUMNS, float_or_none
from ..store.units import ms
from .stats import EQUIVALENCE_MARGIN, equivalent
from .tolerances import TRAINING_STEPS
from .seed_data import seed_data
from ..store.files import read_csv
from ..store.validate import ResultsError
from impls import TOPOLOGIES

SIZE_ORDER = ("seed", "mid")  # the seed's sizes, then the mid size (bench/suite/cases.py sizes)

# Head pairs, as columns: the seed's literal form on both sides, the fused form on
# both sides, and each framework's default (Keras's TimeDistributed, torch's broadcast).
PAIRS = {
    "looped (TD / loop)": ("timedistributed", "loop"),
    "fused (dense3d / broadcast)": ("dense3d", "broadcast"),
    "defaults (TD / broadcast)": ("timedistributed", "broadcast"),
}
NO_HEAD_PAIR = ("n/a", "n/a")  # one_to_one and many_to_one: no per-timestep head, one pair
DEFAULT_PAIRS = (PAIRS["defaults (TD / broadcast)"], NO_HEAD_PAIR)
ANSWER_FIGURE = "keras-over-torch.png"  # drawn by `bench report` beside report.md


def read_rows(results_dir: Path, name: str, keep=lambda r: True) -> list[dict]:
    path = layout.set_file(results_dir, FILES.get(name, name))
    try:
        rows = [r for r in read_csv(path) if keep(r)]
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such file; run the benchmarks first") from None
    except ValueError as e:
        raise ResultsError(str(e)) from e
    if not rows:
        raise ResultsError(f"{path}: no rows to tabulate")
    return rows


def _ms(value) -> str:
    return f"{ms(value):.3g}"


def _num(value) -> str:
    """About three significant digits: 1359, 424, 12.3, 1.18, 0.42."""
    value = float(value)
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def _by_slice(rows, columns) -> dict[tuple, list[dict]]:
    slices: dict[tuple, list] = {}
    for r in rows:
        slices.setdefault(tuple(r.get(c, "") for c in columns), []).append(r)
    return dict(sorted(slices.items()))


# Beside a ratio whose run's blocks did not reach that run's --precision target (comparison.csv `precision`
# above the slice's environment.json `precision`): the bracket is wider than the run aimed for.
MISSED_TARGET = "†"


def with_precision_targets(results_dir: Path, rows: list[dict]) -> list[dict]:
    """comparison.csv rows, each with `precision_target`: the --precision its slice's run aimed at
    (environment.json), None where the slice did not record one."""
    targets = {}
    for name, env in load_environment(results_dir)["slices"].items():
        key = dict(part.split("=", 1) for part in name.split() if "=" in part)
        targets[tuple(key.get(c, "") for c in SLICE_COLUMNS)] = float_or_none((env or {}).get("precision"))
    return [{**r, "precision_target": targets.get(tuple(str(r.get(c, "")) for c in SLICE_COLUMNS))} for r in rows]


def missed_target(row: dict) -> bool:
    reached, target = float_or_none(row.get("precision")), row.get("precision_target")
    return reached is not None and target is not None and reached > target


def ratio_cell(row: dict) -> str:
    """The ratio with its unit (×) and its 95% interval; "same (±5%)" when the whole interval lies within
    the equivalence margin (stats.EQUIVALENCE_MARGIN) of 1, a test of equivalence, not of a difference;
    MISSED_TARGET after it when the run's blocks did not reach the run's precision target."""
    low, high = row.get("ci_low") or "", row.get("ci_high") or ""
    mark = f" {MISSED_TARGET}" if missed_target(row) else ""
    if not (low and high):
        return f"{_num(row['keras_over_torch'])}×{mark}"
    if equivalent(float(low), float(high)):
        return f"same (±{EQUIVALENCE_MARGIN:.0%}) [{_num(low)}, {_num(high)}]{mark}"
    return f"{_num(row['keras_over_torch'])}× [{_num(low)}, {_num(high)}]{mark}"


def missed_note(rows: list[dict]) -> str:
    """The table note's sentence on MISSED_TARGET, with how many of `rows` carry it; empty if none."""
    missed = [r for r in rows if missed_target(r)]
    if not missed:
        return ""
    targets = sorted({f"±{r['precision_target']:.1%}" for r in missed})
    return (f" {MISSED_TARGET}: the run's blocks did not reach its precision target ({', '.join(targets)}), "
            f"{len(missed)} of {len(rows)} ratios; comparison.csv's `precision` holds the half-width each reached.")


# --- the answer: each framework's default head, a column per Keras backend and compile setting


def default_pairs(results_dir: Path, profile: str) -> list[dict]:
    """comparison.csv's rows of the profile that pair each framework's default head, each with its `column`."""
    rows = with_precision_targets(results_dir, read_rows(results_dir, "comparison", lambda r: r["profile"] == profile
                                                         and (r["keras_head"], r["torch_head"]) in DEFAULT_PAIRS))
    # device and threads name a column only where the file holds more than one of them
    extra = [c for c in ("device", "threads") if len({r.get(c, "") for r in rows}) > 1]
    for r in rows:
        r["column"] = ", ".join([r["keras_backend"], f"compile {r['compile']}",
                                 *(f"{r[c]}{' thread(s)' if c == 'threads' else ''}" for c in extra)])
        r["column_key"] = (r["keras_backend"], r["compile"], *(r[c] for c in extra))
    return sorted(rows, key=lambda r: reading_order((r["topology"], f"{r['size']} (b{r['batch']})", r["mode"])))


def columns(rows: list[dict]) -> list[str]:
    """The answer's columns: Keras backend, then compile off before on."""
    return [c for _, c in sorted({(r["column_key"], r["column"]) for r in rows})]


def reading_order(problem: tuple) -> tuple:
    """(topology, "size (bN)", mode) in the order tables show them: the topologies' registry order, the seed's
    size before the mid size (sweeps after them, as the file has them), train before infer. A set merged case
    by case, or from a cluster's tasks, holds its rows in the order they arrived."""
    topology, size, mode = problem
    label = size.split(" (")[0]
    return (TOPOLOGIES.index(topology) if topology in TOPOLOGIES else len(TOPOLOGIES),
            SIZE_ORDER.index(label) if label in SIZE_ORDER else len(SIZE_ORDER),
            MODES.index(mode) if mode in MODES else len(MODES))


def answer_markdown(results_dir: Path, profile: str) -> str:
    """One table: a row per topology, size and mode; a column per Keras backend, eager and compiled."""
    rows = default_pairs(results_dir, profile)
    names = columns(rows)
    cells = {(r["topology"], f"{r['size']} (b{r['batch']})", r["mode"], r["column"]): r for r in rows}
    problems = sorted(dict.fromkeys(key[:3] for key in cells), key=reading_order)
    body = [[*problem, *(ratio_cell(cells[(*problem, c)]) if (*problem, c) in cells else "not timed"
                         for c in names)] for problem in problems]
    compilers = []
    for c in names:
        of_column = [r for r in rows if r["column"] == c]
        label = generated_text.compiler_label
        pairs = sorted({f"{label(r['keras_compiler'])} / {label(r['torch_compiler'])}" for r in of_column})
        compilers.append(f"{c}: {', '.join(pairs)}")
    return "\n".join([
        *markdown.table(["topology", "size (batch)", "mode", *(f"Keras on {c}" for c in names)], body), "",
        f"Keras time / torch time (from paired blocks), {profile} profile, [95% confidence interval]"
        f"{interval_note(rows)}; \"same (±{EQUIVALENCE_MARGIN:.0%})\": the whole interval within {EQUIVALENCE_MARGIN:.0%} of 1; "
        f"\"not timed\": no timed pair in the file.{missed_note(rows)} Compilers (Keras / torch): {'; '.join(compilers)}.",
    ]) + "\n"


def interval_note(rows: list[dict]) -> str:
    """Where the intervals come from the runs' blocks alone (no noise model of that kind of slice), say so."""
    alone = {r["column"] for r in rows if str(r.get("interval_noise", "")).endswith(" only")}
    if not alone:
        return ""
    which = "every column" if alone == {r["column"] for r in rows} else ", ".join(sorted(alone))
    return (f" (in {which}, from the run's own blocks only: no rerun noise measured for that kind of slice under "
            f"the current method, `python -m bench stability`)")


def _answer_cells(results_dir: Path, profile: str) -> dict[tuple, dict]:
    """(topology, size (batch), mode, column) -> its default-head comparison row."""
    return {(r["topology"], f"{r['size']} (b{r['batch']})", r["mode"], r["column"]): r
            for r in default_pairs(results_dir, profile)}


def _agreement(mine: dict, theirs: dict | None) -> str:
    """Whether one machine's ratio lies in the other's 95% interval: this machine's interval when it has one
    (it needs a noise model, `bench stability`), else the reference's."""
    if theirs is None:
        return ""
    for interval, other, whose in ((mine, theirs, "this machine's"), (theirs, mine, "the reference's")):
        low, high = float_or_none(interval.get("ci_low")), float_or_none(interval.get("ci_high"))
        if low is not None and high is not None:
            inside = low <= float(other["keras_over_torch"]) <= high
            return f"{'yes' if inside else 'no'} ({whose} interval)"
    return "no interval to tell"


def answer_beside_reference(results_dir: Path, reference_dir: Path | None, profile: str) -> str:
    """The answer for `results_dir`, a plain table per column, with the reference machine's ratio beside each cell.

    Ratios, not times, are what travel between machines; "agrees" when the
    reference's ratio falls inside this set's 95% interval.
    """
    try:
        mine = _answer_cells(results_dir, profile)
    except ResultsError as e:
        return f"no answer table: {e}\n"
    theirs = {}
    if reference_dir is not None and Path(reference_dir).resolve() != Path(results_dir).resolve():
        try:
            theirs = _answer_cells(reference_dir, profile)
        except ResultsError:
            theirs = {}
    same = reference_dir is not None and Path(reference_dir).resolve() == Path(results_dir).resolve()
    reference = "this is the reference machine" if same else Path(reference_dir).name if theirs else "none on record"
    out = []
    for column in columns(list(mine.values())):
        body = [[*key[:3], ratio_cell(row), _num(theirs[key]["keras_over_torch"]) if key in theirs else "",
                 _agreement(row, theirs.get(key) if theirs else None)]
                for key, row in mine.items() if key[3] == column]
        out += [f"Keras time / torch time, Keras on {column}: this machine ({Path(results_dir).name}) "
                f"against the reference ({reference})", "",
                *markdown.text_table(["topology", "size (batch)", "mode", "this machine [95% interval]",
                                      "reference", "agree?"], body, align="<<<<><"), ""]
    return "\n".join(out)


def machines_markdown(machine_dirs: dict[str, Path], profile: str) -> str:
    """Every machine's answer side by side: a row per problem and column of the answer, a column per machine.

    Ratios only: they compare two frameworks on one machine, so they can stand beside another machine's.
    """
    cells = {}
    for name, directory in machine_dirs.items():
        try:
            cells[name] = _answer_cells(directory, profile)
        except ResultsError:
            continue  # a machine with no comparison.csv of this profile has no column
    # the file's problem order within each answer column
    keys = sorted(dict.fromkeys(k for c in cells.values() for k in c), key=lambda k: (k[3], reading_order(k[:3])))
    body = [[f"Keras on {k[3]}", *k[:3], *(ratio_cell(c[k]) if k in c else "not timed" for c in cells.values())]
            for k in keys]
    return "\n".join([*markdown.table(["answer column", "topology", "size (batch)", "mode", *cells], body), "",
                      f"Keras time / torch time per machine (each framework's default head, {profile} profile), "
                      "[95% confidence interval]."]) + "\n"


# --- the detail: every head pair, the TimeDistributed tax, parity, parameters, the seed's experiment


def comparison_slice(rows: list[dict]) -> list[str]:
    by_problem: dict[tuple, dict] = {}
    for r in rows:
        by_problem.setdefault((r["topology"], r["size"], r["batch"], r["mode"]), {})[(r["keras_head"], r["torch_head"])] = r
    body = []
    for (topology, size, batch, mode), pairs in by_problem.items():
        if NO_HEAD_PAIR in pairs:  # one head: its one pair is the default
            cells, default = [None, None, pairs[NO_HEAD_PAIR]], pairs[NO_HEAD_PAIR]
        else:
            cells = [pairs.get(p) for p in PAIRS.values()]
            default = pairs.get(PAIRS["defaults (TD / broadcast)"])
        if default is None:
            continue
        body.append([
            topology, f"{size} (b{batch})", mode, _ms(default["keras_median_s"]), _ms(default["torch_median_s"]),
            *("" if c is None else ratio_cell(c) for c in cells),
            f"{float(default['keras_spread']):.0%}, {float(default['torch_spread']):.0%}",
        ])
    return markdown.table(["topology", "size", "mode", "Keras ms", "torch ms", *PAIRS, "spread (K, T)"], body)


def comparison_markdown(results_dir: Path, profile: str) -> str:
    rows = with_precision_targets(results_dir, read_rows(results_dir, "comparison", lambda r: r["profile"] == profile))
    out = []
    for (backend, device, compile, threads), of_slice in _by_slice(rows, ["keras_backend", "device", "compile", "threads"]).items():
        threads_note = f", {threads} thread(s)" if threads else ""  # files written before threads were a slice column
        out += [f"**Keras on {backend}, {device}, compile {compile}{threads_note}** (Keras time / torch time, from paired blocks)", ""]
        out += comparison_slice(of_slice) + [""]
    note = missed_note(rows).strip()
    return "\n".join(out + ([note] if note else [])).rstrip() + "\n"


def td_tax_markdown(results_dir: Path) -> str:
    """Tax (looped / fused median) per timesteps; a row per framework, backend, compile and mode."""
    rows = read_rows(results_dir, "td_tax")
    out = []
    for (device,), of_device in _by_slice(rows, ["device"]).items():
        timesteps = sorted({int(r["timesteps"]) for r in of_device})
        lines: dict[tuple, dict] = {}
        for r in of_device:
            backend = {"keras": r["keras_backend"], "onnxruntime": f"{r['looped_head'].rpartition('-')[0]} export"}.get(
                r["framework"], "torch")
            key = (r["topology"], r["framework"], backend if r["framework"] == "keras" else f"{backend} (in the {r['keras_backend']} run)",
                   r["compiler"], r["mode"])
            lines.setdefault(key, {})[int(r["timesteps"])] = f"{float(r['tax']):.2f}"
        header = ["topology", "framework", "backend", "compiler", "mode", *(f"T={t}" for t in timesteps)]
        body = [[*key, *(taxes.get(t, "") for t in timesteps)] for key, taxes in sorted(lines.items())]
        out += [f"**{device}** (looped median / fused median)", "", *markdown.table(header, body), ""]
    return "\n".join(out).rstrip() + "\n"


def parity_markdown(results_dir: Path) -> str:
    """The largest difference of each check, per parity case (from `python -m bench parity`)."""
    rows = read_rows(results_dir, COMMAND_FILES["parity"])
    checks = {
        "forward": lambda r: r["check"].startswith("forward"),
        "gradient": lambda r: r["check"] == "gradient",
        f"{TRAINING_STEPS} SGD steps": lambda r: r["optimizer"] == "sgd" and r["step"] == str(TRAINING_STEPS),
        f"{TRAINING_STEPS} Adam steps, KerasAdam": lambda r: r["optimizer"] == "keras_adam" and r["step"] == str(TRAINING_STEPS),
        f"{TRAINING_STEPS} Adam steps, torch.optim.Adam": lambda r: r["optimizer"] == "adam" and r["step"] == str(TRAINING_STEPS),
    }
    body = []
    for case in dict.fromkeys(r["case"] for r in rows):
        of_case = [r for r in rows if r["case"] == case]
        worst = [max((float(r["max_abs_diff"]) for r in of_case if pick(r)), default=None) for pick in checks.values()]
        body.append([case, of_case[0]["batch"], of_case[0]["sizes"], *("" if w is None else f"{w:.1e}" for w in worst)])
    return "\n".join(markdown.table(["case", "batch", "sizes", *checks], body)) + "\n"


def params_markdown(results_dir: Path) -> str:
    """Parameters per layer, both frameworks and the formula, per topology (from `python -m bench params`)."""
    rows = read_rows(results_dir, COMMAND_FILES["params"])
    out = []
    for topology in dict.fromkeys(r["topology"] for r in rows):
        of_topology = [r for r in rows if r["topology"] == topology]
        body = [[r["layer"], r["kind"], r["keras"], r["torch_native"], r["torch_keras_compatible"],
                 f"{r['formula']} = {r['formula_value']}", "yes" if r["matches"] == "True" else "NO"]
                for r in of_topology]
        out += [f"**{topology}** ({of_topology[0]['sizes']})", "",
                *markdown.table(["layer", "kind", "Keras", "torch native", "torch keras-compatible",
                                 "formula (Keras)", "matches"], body), ""]
    return "\n".join(out).rstrip() + "\n"


def seed_markdown(results_dir: Path) -> str:
    """The seed's printout per topology, every run side by side (from `python -m bench seed`)."""
    rows = read_rows(results_dir, COMMAND_FILES["seed"], lambda r: r["method"] != "initial")
    out = []
    for topology in dict.fromkeys(r["topology"] for r in rows):
        runs = [r for r in rows if r["topology"] == topology]
        targets = seed_data(topology)[1].ravel()
        predictions = [json.loads(r["predictions"]) for r in runs]
        header = ["target", *(f"{r['framework']} {r['method']}" for r in runs)]
        body = [[f"{t:.2f}", *(f"{p[i]:.2f}" for p in predictions)] for i, t in enumerate(targets)]
        body.append(["final loss", *(f"{float(r['final_loss']):.2e}" for r in runs)])
        body.append(["max abs error", *(f"{float(r['max_abs_error']):.3f}" for r in runs)])
        body.append(["train s", *(f"{float(r['train_s']):.1f}" for r in runs)])
        out += [f"**{topology}**, {runs[0]['steps']} steps each:", "", *markdown.table(header, body), ""]
    return "\n".join(out).rstrip() + "\n"


def compile_cost_markdown(results_dir: Path) -> str:
    """First call with compile on against off, per framework and backend, then per case (bench/analysis/compile_cost.py)."""
    rows = compile_cost.compile_cost_rows(read_rows(results_dir, "benchmarks"))
    if not rows:
        raise ResultsError(f"{results_dir / FILES['benchmarks']}: no case timed with compile off and on")
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["framework"], r["keras_backend"]), []).append(r)

    def median(values):
        values = sorted(values)
        return values[len(values) // 2] if len(values) % 2 else (values[len(values) // 2 - 1] + values[len(values) // 2]) / 2

    summary = [[framework, backend, len(g), _ms(median([r["first_off_s"] for r in g])),
                _ms(median([r["first_on_s"] for r in g])),
                _num(median([r["median_off_s"] / r["median_on_s"] for r in g])),
                compile_cost.calls_cell(median([r["break_even_calls"] for r in g])),
                sum(1 for r in g if r["break_even_calls"] == float("inf"))]
               for (framework, backend), g in groups.items()]
    body = [[r["framework"], r["keras_backend"], r["topology"], r["size"], r["mode"], r["head"],
             _ms(r["first_off_s"]), _ms(r["first_on_s"]), _ms(r["median_off_s"]), _ms(r["median_on_s"]),
             compile_cost.calls_cell(r["break_even_calls"])] for r in rows]
    return "\n".join([
        *markdown.table(["framework", "in the Keras-on run", "cases", "first call off (ms)", "first call on (ms)",
                         "eager / compiled per call", "break-even calls (median)", "never pays"], summary), "",
        "Medians over the cases timed both ways. First call: the timed function's first call after the parity "
        "check (tracing, compiling, autotuning). Break-even: calls after which compiling has cost no more in all; "
        "never: the compiled call is not faster.", "",
        *markdown.table(["framework", "Keras backend of the run", "topology", "size", "mode", "head",
                         "first call off (ms)", "first call on (ms)", "per call off (ms)", "per call on (ms)",
                         "break-even calls"], body),
    ]) + "\n"


# --- blocks: name -> (the file it needs, how it is written from (results_dir, profile))

README_BLOCKS = {
    "answer-table": (FILES["comparison"], lambda d, profile: answer_markdown(d, profile)),
    "stability-summary": (COMMAND_FILES["noise"], lambda d, profile: generated_text.stability_summary(d)),
    "detection-summary": (COMMAND_FILES["detection"], lambda d, profile: generated_text.detection_summary(d)),
}
# (title, block name, the file it needs, writer): the report's sections after its own
DETAIL_BLOCKS = {
    "in-short": ("Keras over torch in short", FILES["comparison"], lambda d, profile: generated_text.in_short(d, profile)),
    "comparison-table": ("Keras over torch, every head pair", FILES["comparison"],
                         lambda d, profile: comparison_markdown(d, profile)),
    "td-tax-table": ("TimeDistributed tax: looped over fused head", FILES["td_tax"], lambda d, profile: td_tax_markdown(d)),
    "td-tax-figures": ("TimeDistributed tax at the shortest and longest sequence", FILES["td_tax"],
                       lambda d, profile: generated_text.td_tax_figures(d)),
    "td-tax-compiled": ("TimeDistributed over dense3d at the mid size, per compiler", FILES["benchmarks"],
                        lambda d, profile: generated_text.compiled_tax(d, profile)),
    "compile-cost": ("Compile cost: the first call, compile on against off, and when compiling pays off",
                     FILES["benchmarks"], lambda d, profile: compile_cost_markdown(d)),
    "stability": ("Stability sets: reruns on this machine", COMMAND_FILES["noise"],
                  lambda d, profile: generated_text.stability_summary(d) + generated_text.stability_history(d)),
    "detection": ("Detection: `bench compare` against real extra work", COMMAND_FILES["detection"],
                  lambda d, profile: generated_text.detection_summary(d) + generated_text.detection_table(d)),
    "peak-share": ("Share of the measured matmul peak", FILES["benchmarks"], lambda d, profile: generated_text.peak_share(d)),
    "parity-summary": ("Parity: the largest difference of each check", COMMAND_FILES["parity"],
                       lambda d, profile: parity_markdown(d)),
    "params": ("Parameters per layer", COMMAND_FILES["params"], lambda d, profile: params_markdown(d)),
    "seed": ("The seed's experiments", COMMAND_FILES["seed"], lambda d, profile: seed_markdown(d)),
}


def readme_blocks(results_dir: Path, profile: str) -> dict[str, str]:
    """The README's blocks whose file is present, written."""
    return {name: write(results_dir, profile) for name, (source, write) in README_BLOCKS.items()
            if (results_dir / source).exists()}


def _written(write, results_dir: Path, profile: str) -> str:
    try:
        return write(results_dir, profile)
    except ResultsError as e:  # e.g. no rows of this profile: say so in the block's place
        return f"{e}\n"


def detail_blocks(results_dir: Path, profile: str) -> dict[str, tuple[str, str]]:
    """name -> (title, text) of each detail block whose file is present."""
    return {name: (title, _written(write, results_dir, profile)) for name, (title, source, write) in DETAIL_BLOCKS.items()
            if layout.set_file(results_dir, source).exists()}


def report_sections(results_dir: Path, profile: str) -> list[str]:
    """The detail blocks as report.md sections; an absent file gets one line saying so."""
    present = detail_blocks(results_dir, profile)
    lines = []
    for name, (title, source, _) in DETAIL_BLOCKS.items():
        lines += [f"## {title}", ""]
        lines += [present[name][1].rstrip(), ""] if name in present else [f"No {source} in this directory.", ""]
    return lines


def replace_block(text: str, name: str, block: str) -> str | None:
    """`text` with the block between <!-- NAME:start --> and <!-- NAME:end --> replaced; None without markers."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        return None
    return pattern.sub(lambda _: f"{start}\n{block}{end}", text)
