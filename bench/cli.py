"""`python -m bench COMMAND`: one entry point; each command lives in its own module."""

from __future__ import annotations

import argparse
import re
import sys
from importlib import import_module

from .commands.command_args import UsageError
from .store.validate import ResultsError

# command -> (module that implements it, one-line help)
COMMANDS = {
    "params": ("params", "per-layer parameter counts in Keras and torch, and the formula"),
    "parity": ("parity", "measure how far each Keras/torch pair is apart"),
    "run": ("run", "the benchmark suite once per Keras backend, merged into results/"),
    "td-tax": ("td_tax", "looped vs fused per-timestep head over timesteps, on every backend"),
    "memory": ("memory", "peak memory of one train step and one infer call per case, a process per case"),
    "seed": ("seed", "the seed's three experiments, trained in Keras and PyTorch side by side"),
    "report": ("report", "report.md and plots in a result set (this machine's, else the reference's)"),
    "compare": ("compare", "per-case ratios between two result sets; exit 1 on a regression"),
    "table": ("table", "the keras_over_torch table (Markdown) from results/comparison.csv"),
    "stability": ("stability", "the profile timed in N processes: how far each ratio moves, interval coverage, compare's error rates"),
    "detection": ("detection", "bench compare on clean runs against runs with real extra work: what it catches, detection.csv"),
    "migrate": ("migrate", "move a flat results/ (the layout before machine directories) into results/<machine>/"),
    "reanalyse": ("reanalyse", "a result set's comparison, td-tax and onnx tables derived again with the current analysis"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise UsageError(message)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Every command is listed; only `command`'s module is imported to add its options."""
    parser = _Parser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (module, help_text) in COMMANDS.items():
        subparser = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            import_module(f".commands.{module}", __package__).add_arguments(subparser)
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
        module = import_module(f".commands.{COMMANDS[args.command][0]}", __package__)
        return module.run(args)
    except (UsageError, ResultsError) as e:
        message = str(e)
    except OSError as e:  # a file that cannot be read or written: its name and why, not a traceback
        message = f"{e.filename}: {e.strerror}" if e.filename else str(e)
    except KeyboardInterrupt:
        message = "interrupted; result files are replaced only when a command completes, so they are as they were"
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 2
