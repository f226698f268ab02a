"""The suite's options, defined once for pytest (bench/conftest.py) and `python -m bench run`."""

from __future__ import annotations

import argparse

from .cases import COMPILE_CHOICES, PROFILES
from ..store.results import FILES
from .runtime import DEFAULT_KERAS_BACKEND, KERAS_BACKENDS, available_cores, parse_positive, parse_threads


def threads_type(value) -> int:
    """--threads for argparse (the one check is runtime.parse_threads)."""
    try:
        return parse_threads(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


# The one default thread count, for pytest (bench/conftest.py) and every `python -m bench`
# command. One, so that the timed process can pin both frameworks to the same CPU of a
# 2-vCPU VM (runtime.pin_cpus); docs/methods.md, "Threads", gives the measurements.
DEFAULT_THREADS = 1


def blocks_type(value) -> int:
    try:
        return parse_positive("--blocks", value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


# Blocks each case is timed in, alternating with the other cases of its problem
# (bench/suite/session.py). 1 is one stretch per case, as pytest-benchmark times.
# 40: a ratio's error falls with the number of blocks rather than their length
# (docs/methods.md, "Why 40 blocks"). A problem whose calls are too long to fill 40
# blocks within its time budget gets fewer, never under MIN_BLOCKS
# (session.Timing.blocks_for).
DEFAULT_BLOCKS = 40
MIN_BLOCKS = 10


# Each finished case prints "tdbench-progress K N OUTCOME CASE" (bench/conftest.py)
# for `python -m bench run` to relay (bench/commands/backend_runs.py).
PROGRESS_PREFIX = "tdbench-progress"

# flag -> argparse keyword arguments; `dest` is the attribute on pytest's config.option.
OPTIONS = {
    "--profile": dict(
        dest="tdbench_profile", default="quick", choices=PROFILES,
        help="sizes to run: seed (the seed's), quick (seed + one mid size), full (sweeps), "
        "tdtax (many_to_many and one_to_many over timesteps, for the TimeDistributed tax); default: %(default)s",
    ),
    "--threads": dict(
        dest="tdbench_threads", default=DEFAULT_THREADS, type=threads_type, metavar="N",
        help=f"threads for every framework, set before import (default: %(default)s; {available_cores()} cores here)",
    ),
    "--keras-backend": dict(
        dest="tdbench_keras_backend", default=None, choices=KERAS_BACKENDS,
        help=f"Keras backend for this process (default: $KERAS_BACKEND, else {DEFAULT_KERAS_BACKEND})",
    ),
    "--compile": dict(
        dest="tdbench_compile", default="off", choices=COMPILE_CHOICES,
        help="compiled paths: off (Keras jit_compile=False, torch eager), on (XLA / torch.compile), or both; default: %(default)s",
    ),
    "--blocks": dict(
        dest="tdbench_blocks", default=DEFAULT_BLOCKS, type=blocks_type, metavar="N",
        help=f"time each case in N blocks, alternating with the other cases of its problem (default: {DEFAULT_BLOCKS}); "
        "the --benchmark-max-time budget is split over them, and a problem whose slowest call cannot fill N "
        f"is timed in fewer (at least {MIN_BLOCKS})",
    ),
    "--results-dir": dict(
        dest="tdbench_results_dir", default=None, metavar="DIR",
        help=f"where {FILES['benchmarks']}, {FILES['comparison']} and {FILES['environment']} are merged "
        "(default: results/<this machine>/, bench/store/layout.py)",
    ),
}


def add_pytest_options(parser) -> None:
    # pytest answers a bad value with its usage text and exit status 4; the suite
    # takes the raw text and checks it in pytest_configure instead (checked_option).
    group = parser.getgroup("tdbench", "tdbench benchmark suite")
    for flag, kwargs in OPTIONS.items():
        group.addoption(flag, **{k: v for k, v in kwargs.items() if k not in ("type", "choices")})


def checked_option(flag: str, value):
    """`value` given for `flag`, converted and checked as argparse would; ValueError in argparse's words."""
    kwargs = OPTIONS[flag]
    if value is None or value == kwargs.get("default"):
        return value
    if "type" in kwargs and isinstance(value, str):
        try:
            value = kwargs["type"](value)
        except argparse.ArgumentTypeError as e:
            message = str(e)
            raise ValueError(message if message.startswith(flag) else f"argument {flag}: {message}") from None
    choices = kwargs.get("choices")
    if choices and value not in choices:
        raise ValueError(
            f"argument {flag}: invalid choice: {value!r} (choose from {', '.join(map(repr, choices))})"
        )
    return value


def add_argparse_options(parser, flags=tuple(OPTIONS)) -> None:
    """`flags` of OPTIONS as argparse options, each stored under its own name (args.profile, args.threads, ...)."""
    for flag in flags:
        parser.add_argument(flag, **{k: v for k, v in OPTIONS[flag].items() if k != "dest"})
