"""`python -m bench report [--results-dir DIR | --machine NAME]`: report.md in that result set, with its PNG plots beside it.

The report says how to read it, lists every slice's machine and versions
(environment.json), gives the README's answer (Keras over PyTorch with each
framework's default head, a figure and a table), then one section per run (Keras backend, device,
profile) of benchmarks.csv: median times per topology, train and infer, one
bar per backend/head/compile variant; Keras over PyTorch (comparison.csv) and
the share of peak at the largest size; for a full-profile run, the exponents
of time against each swept size (bench/analysis/scaling.py). Then the cases that were
not timed, the TimeDistributed tax against timesteps (td_tax.csv), and the
peak memory of one call (memory.csv, memory_comparison.csv from `python -m
bench memory`), and the detail the README leaves here (bench/analysis/result_tables.py:
every head pair, the tax in figures, parity, parameters, the seed's
experiment). Where a file is absent, its section says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..store import layout, markdown

from ..analysis import cluster_plan, compile_cost, plots, result_tables
from ..suite.cases import SWEEPS
from .command_args import UsageError, add_results_arguments, results_to_read
from ..store.dataframes import RUN, case_names, read_frame, run_slug, run_title, timed, variant_label
from ..store.schema import (
    CLUSTER_TASKS, COMPARISON_COLUMNS, FILES, MEMORY_COLUMNS, MEMORY_COMPARISON_COLUMNS, MEMORY_FILES,
    REQUIRED_BENCHMARK_COLUMNS, TD_TAX_COLUMNS,
)
from ..store.results import load_environment
from ..analysis.scaling import OVERHEAD_SLOPE, SMALL_POINTS, exponents, full_profile
from ..store.files import atomic_write_text, member_path, read_csv
from ..store.units import MIB, MS
from ..store.validate import ResultsError, check_results_dir, check_writable

REPORT = "report.md"
ANSWER_PROFILE = "quick"  # the README's answer: the default profile's pairs
TD_TAX = FILES["td_tax"]  # derived by bench/analysis/derived.py; `tax` is looped_s / fused_s
BENCHMARK_NUMBERS = [
    "batch", "timesteps", "units", "median_s", "iqr_s", "flops", "gflops", "peak_gflops", "peak_fraction",
]
COMPARISON_NUMBERS = ["keras_median_s", "torch_median_s", "keras_over_torch"]
ENVIRONMENT_FIELDS = ["date", "cpu", "cores", "cores_available", "threads", "gpu", "os", "python"]
# The largest size of a run's topology and mode: the one with the most FLOPs per call.
LARGEST_KEY = [*RUN, "topology", "mode"]
READING_GUIDE = [
    "How to read it:",
    "",
    "- Noise floor spread: the IQR/median of a fixed pure-Python workload timed in the same run "
    "(bench/test_benchmarks.py); a case's spread near it is the machine's noise, not the framework's.",
    "- Median time per call: bars are the median of the timed rounds, error bars the interquartile range centred "
    "on it. seed: the seed's own sizes; mid: the quick profile's size, the centre of the full profile's sweeps.",
    "- Keras / PyTorch (and every other ratio): from the two cases' paired blocks, one ratio per block combined "
    "by their Hodges-Lehmann estimate (docs/methods.md), so close to, not exactly, the quotient of the two "
    "median columns beside it.",
    "- Largest size: for each topology and mode, the size with the most FLOPs per call (bench/analysis/flops.py). "
    "Share of peak: those FLOPs per second over the float32 matmul rate measured through the same framework "
    "(bench/suite/peak.py).",
    "- Scaling: the exponent k of time ~ size^k, the least-squares slope of log(time) on log(size) over each sweep, "
    "the other sizes held at mid (mid is the centre of every sweep). 1 is linear, 0 is flat. "
    f"`*`: over the sweep's {SMALL_POINTS} smallest sizes the slope is below {OVERHEAD_SLOPE}: time there hardly "
    "grows with the work, fixed overhead dominates.",
    "- TimeDistributed tax: time of the per-timestep head called once per step (Keras TimeDistributed, a torch "
    "loop) over the same head called once on the whole sequence (Dense on 3-D, a broadcast Linear).",
]


@dataclass
class Inputs:
    benchmarks: pd.DataFrame | None
    comparison: pd.DataFrame | None
    td_tax: pd.DataFrame | None
    environment: dict


def _read_if_present(path: Path, columns: list[str], numbers: list[str]) -> pd.DataFrame | None:
    return read_frame(path, columns, numbers) if path.exists() else None


def load_inputs(results_dir: Path) -> Inputs:
    check_results_dir(results_dir)  # each file whole and well formed, or one line naming what is wrong
    return Inputs(
        benchmarks=_read_if_present(results_dir / FILES["benchmarks"], REQUIRED_BENCHMARK_COLUMNS, BENCHMARK_NUMBERS),
        comparison=_read_if_present(results_dir / FILES["comparison"], COMPARISON_COLUMNS, COMPARISON_NUMBERS),
        td_tax=_read_if_present(results_dir / TD_TAX, TD_TAX_COLUMNS, ["timesteps", "tax"]),
        environment=load_environment(results_dir),
    )


@dataclass
class Figures:
    """Draws the report's PNGs into its directory; each becomes an image line of the report."""

    directory: Path
    paths: list[Path] = field(default_factory=list)

    def add(self, name: str, title: str, draw, rows: pd.DataFrame, *args) -> str:
        path = member_path(self.directory, name)  # built from cells: a plain name, inside the set, or refused
        draw(rows, *args, title=title, path=path)
        self.paths.append(path)
        return f"![{title}]({name})"


def markdown_table(frame: pd.DataFrame) -> str:
    return "\n".join(markdown.table(frame.columns, frame.itertuples(index=False)))


def _fmt(values: pd.Series, spec: str, suffix: str = "") -> pd.Series:
    return values.map(lambda v: "" if pd.isna(v) else format(v, spec) + suffix)


def _noise_floor(floor: dict | None) -> str:
    """The spread of a fixed pure-Python workload timed in the same run: the machine's own noise."""
    return "" if not floor else f"{floor['spread']:.0%}"


def environment_section(environment: dict) -> list[str]:
    lines = ["## Environment", ""]
    if not environment["slices"]:
        return lines + [f"No {FILES['environment']}: the machine these results come from is not on record."]
    table = pd.DataFrame(
        {
            "slice": name,
            **{key: machine.get(key, "") for key in ENVIRONMENT_FIELDS},
            "noise floor spread": _noise_floor(machine.get("noise_floor")),
            "versions": ", ".join(f"{k} {v}" for k, v in sorted(machine.get("versions", {}).items()) if v),
        }
        for name, machine in environment["slices"].items()
    )
    return lines + [markdown_table(table)]


def times_section(run: tuple, rows: pd.DataFrame, figures: Figures) -> list[str]:
    headline = rows[~rows["size"].str.contains("=")]  # sweep points are drawn under Scaling
    if headline.empty:  # the tdtax profile: all sweep points, drawn as the tax
        return []
    lines = ["### Median time per call"]
    for topology, of_topology in headline.groupby("topology", sort=False):
        name = f"times-{run_slug(run)}-{topology}.png"
        lines += ["", figures.add(name, f"{topology}: {run_title(*run)}", plots.time_bars, of_topology)]
    return lines


def largest_sections(rows: pd.DataFrame, comparison: pd.DataFrame | None) -> list[str]:
    """Keras over PyTorch, and the share of peak, at the size with the most FLOPs per call."""
    largest = rows.dropna(subset=["flops"]).sort_values("flops").groupby(LARGEST_KEY).tail(1)[[*LARGEST_KEY, "size"]]
    lines = ["### Keras over PyTorch at the largest size", ""]
    if comparison is None:
        lines.append(f"No {FILES['comparison']} in this directory.")
    else:  # the merge keeps this run's pairs: LARGEST_KEY holds the run's columns
        pairs = comparison.merge(largest, on=[*LARGEST_KEY, "size"])
        table = pd.DataFrame(
            {
                "topology": pairs["topology"], "mode": pairs["mode"], "size": pairs["size"],
                "Keras head": pairs["keras_head"], "PyTorch head": pairs["torch_head"], "compile": pairs["compile"],
                "Keras (ms)": _fmt(pairs["keras_median_s"] * MS, ".3g"),
                "PyTorch (ms)": _fmt(pairs["torch_median_s"] * MS, ".3g"),
                "Keras / PyTorch": _fmt(pairs["keras_over_torch"], ".2f", "x"),
            }
        )
        lines.append(markdown_table(table))
    at_largest = rows.merge(largest, on=[*LARGEST_KEY, "size"])
    table = pd.DataFrame(
        {
            "topology": at_largest["topology"], "mode": at_largest["mode"], "size": at_largest["size"],
            "variant": [variant_label(r) for _, r in at_largest.iterrows()],
            "GFLOP/s": _fmt(at_largest["gflops"], ".3g"), "peak GFLOP/s": _fmt(at_largest["peak_gflops"], ".3g"),
            "share of peak": _fmt(at_largest["peak_fraction"], ".1%"),
        }
    )
    return lines + ["", "### Share of peak at the largest size", "", markdown_table(table)]


def _exponent_table(fits: pd.DataFrame) -> pd.DataFrame:
    cells = fits.assign(
        variant=[variant_label(r) for _, r in fits.iterrows()],
        cell=_fmt(fits["exponent"], ".2f") + fits["overhead"].map({True: " *", False: ""}),
    )
    table = cells.pivot_table(
        index=["topology", "mode", "variant"], columns="variable", values="cell", aggfunc="first", sort=False
    )
    return table.reindex(columns=[v for v in SWEEPS if v in table.columns]).fillna("").reset_index()


def scaling_section(run: tuple, rows: pd.DataFrame, fits: pd.DataFrame, figures: Figures) -> list[str]:
    """`rows`: the run's full-profile rows; `fits`: their exponents."""
    overhead = fits[fits["overhead"]]
    lines = ["### Scaling", "", markdown_table(_exponent_table(fits)), ""]
    lines.append("Fixed overhead dominates:" if len(overhead) else "No sweep is dominated by fixed overhead.")
    lines += [
        f"- {f['topology']} {f['mode']}, {variant_label(f)}: {f['variable']} up to {f['small_max']:g}, "
        f"slope {f['small_exponent']:.2f}"
        for f in overhead.to_dict("records")
    ]
    for topology, of_topology in rows.groupby("topology", sort=False):
        fitted = set(fits.loc[fits["topology"] == topology, "variable"])
        name = f"scaling-{run_slug(run)}-{topology}.png"
        title = f"{topology} scaling: {run_title(*run)}"
        variables = [v for v in SWEEPS if v in fitted]
        lines += ["", figures.add(name, title, plots.scaling_lines, of_topology, variables)]
    return lines


def untimed_section(frame: pd.DataFrame) -> list[str]:
    untimed = frame[~timed(frame)]
    if untimed.empty:
        return []
    return ["## Cases not timed", ""] + [
        f"- {name}: {status or 'no median'}" for name, status in zip(case_names(untimed), untimed["status"])
    ]


def benchmark_sections(frame: pd.DataFrame | None, comparison: pd.DataFrame | None, figures: Figures) -> list[str]:
    """A section per run (Keras backend, device, profile), then the cases that were not timed."""
    if frame is None:
        return [f"No {FILES['benchmarks']} in this directory; run `pytest bench/ --benchmark-only`."]
    rows = frame[timed(frame)]
    lines = []
    for run, of_run in rows.groupby(RUN, sort=False):
        lines += [f"## {run_title(*run)}", "", *times_section(run, of_run, figures), ""]
        lines += [*largest_sections(of_run, comparison), ""]
        sweeps = full_profile(of_run)
        fits = exponents(sweeps, SWEEPS)
        if len(fits):
            lines += [*scaling_section(run, sweeps, fits, figures), ""]
    if full_profile(rows).empty:
        lines += ["## Scaling", "", "No full-profile rows; run `pytest bench/ --benchmark-only --profile full`.", ""]
    return lines + untimed_section(frame)


def td_tax_section(td_tax: pd.DataFrame | None, figures: Figures) -> list[str]:
    lines = ["## TimeDistributed tax", ""]
    if td_tax is None or td_tax.empty:
        return lines + [f"No {TD_TAX} in this directory (or no rows in it): the TimeDistributed-tax plot is skipped."]
    title = "TimeDistributed tax against timesteps"
    return lines + [figures.add("td_tax.png", title, plots.td_tax_lines, td_tax)]


def answer_section(results_dir: Path, figures: Figures) -> list[str]:
    """The README's answer: Keras over torch with each framework's default head, as a figure and a table."""
    lines = [f"## Keras over PyTorch, each framework's default head ({ANSWER_PROFILE} profile)", ""]
    try:
        rows = result_tables.default_pairs(results_dir, ANSWER_PROFILE)
    except ResultsError as e:  # no comparison.csv, or none of its rows from this profile
        return lines + [str(e)]
    title = f"Keras over PyTorch, default heads, {ANSWER_PROFILE} profile: ratio from paired blocks, 95% confidence interval"
    figure = figures.add(result_tables.ANSWER_FIGURE, title, plots.ratio_intervals, pd.DataFrame(rows),
                         result_tables.columns(rows))
    return lines + [figure, "", result_tables.answer_markdown(results_dir, ANSWER_PROFILE).rstrip()]


def compile_cost_section(benchmarks: pd.DataFrame | None, figures: Figures) -> list[str]:
    """The first call with compile on against off per case: the figure (its tables are the detail block)."""
    lines = ["## Compile cost", ""]
    rows = compile_cost.compile_cost_rows([] if benchmarks is None else benchmarks.to_dict("records"))
    if not rows:
        return lines + ["No case timed with compile off and on; run the suite with `--compile both`."]
    title = "First call, compile on against off, per case"
    return lines + [figures.add("compile-first-calls.png", title, plots.compile_first_calls, pd.DataFrame(rows)),
                    "", "The tables: \"Compile cost\" below."]


def memory_section(results_dir: Path, figures: Figures) -> list[str]:
    """Peak memory (`python -m bench memory`): Keras over torch at the mid size, and bytes against the sweeps."""
    lines = ["## Peak memory of one call", ""]
    path = results_dir / MEMORY_FILES["memory"]
    if not path.exists():
        return lines + [f"No {MEMORY_FILES['memory']} in this directory; run `python -m bench memory`."]
    lines += [
        "Peak during one warm train step or infer call minus what the process held just before it, "
        "measured in a process per case, apart from the timed runs (method per row in `mem_method`; bench/commands/memory.py).",
    ]
    rows = read_frame(path, MEMORY_COLUMNS, ["batch", "timesteps", "units", "peak_mem_bytes"])
    rows = rows[(rows["status"] == "ok") & rows["peak_mem_bytes"].notna()]
    comparison_path = results_dir / MEMORY_FILES["comparison"]
    if comparison_path.exists():
        pairs = read_frame(comparison_path, MEMORY_COMPARISON_COLUMNS,
                           ["keras_peak_mem_bytes", "torch_peak_mem_bytes", "keras_over_torch_mem"])
        pairs = pairs[pairs["size"] == "mid"]
        table = pd.DataFrame({
            "Keras on": pairs["keras_backend"], "device": pairs["device"], "topology": pairs["topology"],
            "mode": pairs["mode"], "Keras head": pairs["keras_head"], "PyTorch head": pairs["torch_head"],
            "Keras (MiB)": _fmt(pairs["keras_peak_mem_bytes"] / MIB, ".3g"),
            "PyTorch (MiB)": _fmt(pairs["torch_peak_mem_bytes"] / MIB, ".3g"),
            "Keras / PyTorch": _fmt(pairs["keras_over_torch_mem"], ".2f", "x"),
        })
        lines += ["", "### Keras over PyTorch at the mid size", "", markdown_table(table)]
    for run, of_run in rows.groupby(RUN, sort=False):
        for topology, of_topology in of_run.groupby("topology", sort=False):
            variables = [v for v in ("batch", "timesteps") if of_topology["size"].str.startswith(f"{v}=").any()]
            if variables:
                name = f"memory-{run_slug(run)}-{topology}.png"
                title = f"{topology} peak memory: {run_title(*run)}"
                lines += ["", figures.add(name, title, plots.memory_lines, of_topology, variables)]
    return lines


def cluster_section(results_dir: Path) -> list[str]:
    """Cluster runs into this directory and their projection on more nodes; nothing when there was none."""
    path = results_dir / CLUSTER_TASKS
    return [*cluster_plan.report_lines(read_csv(path)), ""] if path.exists() else []


def machines_section(results_dir: Path) -> list[str]:
    """Every machine's ratios beside this set's, when it sits in a results root with other machines' sets."""
    machines = layout.machine_dirs(results_dir.parent)
    if len(machines) < 2 or results_dir.name not in machines:
        return []
    return ["", "## Every machine", "", "The answer's ratios of every machine directory beside this one "
            f"(`{results_dir.parent}/`); times stay per machine.", "",
            result_tables.machines_markdown(machines, ANSWER_PROFILE).rstrip()]


def write_report(results_dir: Path) -> list[Path]:
    """Write report.md and its plots into `results_dir`; the paths written, report first."""
    inputs = load_inputs(results_dir)
    if inputs.benchmarks is None and inputs.td_tax is None:
        raise ValueError(f"{results_dir}: no {FILES['benchmarks']} or {TD_TAX} to report on")
    figures = Figures(results_dir)
    lines = [
        "# tdbench report", "", f"From `{results_dir}`.", "", *READING_GUIDE, "",
        *environment_section(inputs.environment), "",
        *answer_section(results_dir, figures), "",
        *benchmark_sections(inputs.benchmarks, inputs.comparison, figures), "",
        *td_tax_section(inputs.td_tax, figures), "",
        *compile_cost_section(inputs.benchmarks, figures), "",
        *memory_section(results_dir, figures), "",
        *cluster_section(results_dir),
        *result_tables.report_sections(results_dir, ANSWER_PROFILE),
        *machines_section(results_dir),
    ]
    report = results_dir / REPORT
    atomic_write_text(report, "\n".join(lines).rstrip() + "\n")
    return [report, *figures.paths]


def add_arguments(parser) -> None:
    add_results_arguments(parser)


def run(args) -> int:
    results_dir = results_to_read(args)
    if not results_dir.is_dir():
        raise UsageError(f"{results_dir}: no such directory")
    check_writable(results_dir)  # report.md and the plots go there
    try:
        written = write_report(results_dir)
    except ValueError as e:
        raise UsageError(str(e)) from e
    print(f"wrote {written[0]} and {len(written) - 1} plot(s) beside it")
    return 0
