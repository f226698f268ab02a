"""`python -m bench COMMAND`: one entry point; each command lives in its own module."""

from __future__ import annotations

import argparse
import sys
from importlib import import_module

from impls import TOPOLOGIES, ModelSpec
from impls.spec import SIZE_FIELDS

from . import runtime

# command -> (module that implements it, one-line help)
COMMANDS = {
    "params": ("params_report", "per-layer parameter counts in Keras and torch, and the formula"),
    "parity": ("parity_report", "measure how far each Keras/torch pair is apart"),
    "run": ("backend_runs", "the benchmark suite once per Keras backend, merged into results/"),
    "td-tax": ("td_tax", "looped vs fused per-timestep head over timesteps, on every backend"),
    "memory": ("memory", "peak memory of one train step and one infer call per case, a process per case"),
    "seed": ("seed_experiment", "the seed's three experiments, trained in Keras and PyTorch side by side"),
    "report": ("report", "results/report.md and plots from the result CSVs"),
    "compare": ("compare", "per-case ratios between two result sets; exit 1 on a regression"),
    "table": ("table", "the keras_over_torch table (Markdown) from results/comparison.csv"),
}


class UsageError(Exception):
    """Bad command-line input: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise UsageError(message)


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


def _threads(value):
    try:
        return runtime.parse_threads(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def add_topology_argument(parser, choices=TOPOLOGIES) -> None:
    parser.add_argument(
        "--topology", choices=choices, help=f"one topology (default: all {len(choices)})"
    )


def add_threads_argument(parser) -> None:
    parser.add_argument(
        "--threads",
        type=_threads,
        default=runtime.available_cores(),
        help="threads for every framework (default: all cores, %(default)s here)",
    )


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Every command is listed; only `command`'s module is imported to add its options."""
    parser = _Parser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (module, help_text) in COMMANDS.items():
        subparser = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            import_module(f".{module}", __package__).add_arguments(subparser)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = argv[0] if argv and argv[0] in COMMANDS else None
    prog = "python -m bench" + (f" {command}" if command else "")
    try:
        args = build_parser(command).parse_args(argv)
        module = import_module(f".{COMMANDS[args.command][0]}", __package__)
        return module.run(args)
    except UsageError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
