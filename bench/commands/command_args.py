"""What the `python -m bench` commands share: their usage error and the options several take.

Commands import these from here, never from the dispatcher (bench/cli.py),
which loads each command by name and imports nothing back from them. The
suite's own options (--profile, --threads, ...) are defined once in
bench/suite/options.py for pytest and argparse alike; this module only adds them.
"""

from __future__ import annotations

import argparse
import math

from pathlib import Path

from impls import TOPOLOGIES, ModelSpec
from impls.spec import SIZE_FIELDS

from ..cluster import add_cluster_arguments
from ..store import layout
from ..analysis.processes import AUTO, AUTO_MAX_PROCESSES, DEFAULT_AUTO_BUDGET_MIN
from ..suite.options import LIMITS, UsageError, add_argparse_options, parse_count


def add_size_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per ModelSpec size field (--timesteps, --vocab-size, ...)."""
    for name in SIZE_FIELDS:
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=int, metavar="N")


def make_spec(topology: str, args) -> ModelSpec:
    """The seed's spec for `topology`, with the size options given on the command line."""
    overrides = {n: getattr(args, n) for n in SIZE_FIELDS if getattr(args, n, None) is not None}
    try:
        return ModelSpec.seed(topology).replace(**overrides)
    except ValueError as e:
        raise UsageError(f"{topology}: {e}") from e


def selected_topologies(args) -> tuple[str, ...]:
    return (args.topology,) if args.topology else TOPOLOGIES


def add_topology_argument(parser, choices=TOPOLOGIES) -> None:
    parser.add_argument(
        "--topology", choices=choices, help=f"one topology (default: all {len(choices)})"
    )


def add_threads_argument(parser) -> None:
    """--threads, as the suite takes it (bench/suite/options.py): same check, same default."""
    add_argparse_options(parser, ("--threads",))


def add_results_arguments(parser, writes: bool = False) -> None:
    """--results-dir DIR and --machine NAME: which result set a command uses (bench/store/layout.py)."""
    default = "this machine's directory under results/" if writes else (
        "this machine's directory under results/ if it has one, else the reference machine's")
    parser.add_argument("--results-dir", type=Path, default=None, metavar="DIR",
                        help=f"the result set to use (default: {default})")
    if not writes:
        parser.add_argument("--machine", default=None, metavar="NAME",
                            help="the result set of machine NAME under results/ (`ls results/`)")


def results_to_read(args, default_to_reference: bool = False) -> Path:
    """The set a reading command uses, said on stderr when the user did not name it."""
    try:
        if default_to_reference and args.results_dir is None and args.machine is None:
            reference = layout.reference_dir()
            if reference is not None:
                return layout.Chosen(reference, f"reading {reference}/ (the reference machine's results)").tell()
        return layout.set_to_read(args.results_dir, getattr(args, "machine", None)).tell()
    except layout.LayoutError as e:
        raise UsageError(str(e)) from None


def results_to_write(args) -> Path:
    """The set a measuring command writes: --results-dir, else this machine's (created, said on stderr)."""
    try:
        return layout.set_to_write(args.results_dir).tell()
    except layout.LayoutError as e:
        raise UsageError(str(e)) from None


def check_out_file(path, example_name: str) -> None:
    """--out must name a file: a directory is refused now, not after every case was measured."""
    if path.is_dir():
        raise UsageError(f"--out {path}: is a directory; give a file name, e.g. {path / example_name}")


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


def auto_budget_type(value) -> float:
    """--auto-budget: minutes above 0, up to LIMITS["time_budget_s"] (bench/suite/options.py)."""
    try:
        minutes = float(value)
    except ValueError:
        minutes = math.nan
    most = LIMITS["time_budget_s"] / 60
    if not (math.isfinite(minutes) and 0 < minutes <= most):
        raise argparse.ArgumentTypeError(f"must be a number of minutes above 0 and at most {most:g}; got {value!r}")
    return minutes


def processes_type(value) -> int | str:
    """--processes: 1 .. LIMITS["runs"] (bench/suite/options.py), or auto (bench/analysis/processes.py)."""
    if str(value).strip().lower() == AUTO:
        return AUTO
    try:
        return parse_count("--processes", value, "runs")
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{e} (or auto)") from e


def add_run_arguments(parser, default_profile: str, default_compile: str, default_backends: str) -> None:
    parser.add_argument(
        "--backends", default=default_backends,
        help="comma-separated Keras backends, or all (default: %(default)s; missing ones are skipped)",
    )
    add_argparse_options(parser, ("--profile", "--compile", "--blocks", "--precision", "--results-dir", "--threads",
                                  "--compile-cache"))
    parser.add_argument(
        "--processes", type=processes_type, default=1, metavar="N",
        help="time each slice in N pytest processes, one after another, and publish their combined estimate, "
        "whose interval holds the variance between processes measured in this run; auto: from 2 up to "
        f"{AUTO_MAX_PROCESSES}, until every Keras/torch pair is within --precision or --auto-budget is spent "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--auto-budget", type=auto_budget_type, default=DEFAULT_AUTO_BUDGET_MIN, metavar="MINUTES",
        help="with --processes auto: start no process that would end past this many minutes of a slice's run "
        "(the longest process so far as its guess; default: %(default)s)",
    )
    add_cluster_arguments(parser)
    parser.set_defaults(profile=default_profile, compile=default_compile)
    parser.add_argument("pytest_args", nargs="*", help="passed on to pytest after --, e.g. -- -k attention")

