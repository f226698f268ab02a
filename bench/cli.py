"""`python -m bench COMMAND`: one entry point; each command lives in its own module."""

from __future__ import annotations

import argparse
import re
import sys
from importlib import import_module

from impls import TOPOLOGIES, ModelSpec
from impls.spec import SIZE_FIELDS

from . import runtime
from .validate import ResultsError

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
    "stability": ("stability", "the profile timed in N processes: how far each ratio moves, interval coverage, compare's error rates"),
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
    from .options import DEFAULT_THREADS

    parser.add_argument(
        "--threads",
        type=_threads,
        default=DEFAULT_THREADS,
        help=f"threads for every framework (default: %(default)s; {runtime.available_cores()} cores here)",
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


def _join_negative_values(argv: list[str]) -> list[str]:
    """`--threshold -5%` as `--threshold=-5%`: argparse takes "-5%" for an option and says only "expected one argument".

    No option of ours starts with a dash and a digit; arguments after `--` (pytest's) are left alone.
    """
    out = []
    for i, arg in enumerate(argv):
        if arg == "--":
            return out + argv[i:]
        if out and out[-1].startswith("--") and "=" not in out[-1] and re.match(r"-[\d.]", arg):
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def main(argv=None) -> int:
    argv = _join_negative_values(sys.argv[1:] if argv is None else list(argv))
    command = argv[0] if argv and argv[0] in COMMANDS else None
    prog = "python -m bench" + (f" {command}" if command else "")
    try:
        args = build_parser(command).parse_args(argv)
        module = import_module(f".{COMMANDS[args.command][0]}", __package__)
        return module.run(args)
    except (UsageError, ResultsError) as e:
        message = str(e)
    except OSError as e:  # a file that cannot be read or written: its name and why, not a traceback
        message = f"{e.filename}: {e.strerror}" if e.filename else str(e)
    except KeyboardInterrupt:
        message = "interrupted; result files are replaced only when a command completes, so they are as they were"
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 2
