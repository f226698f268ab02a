"""The suite's options, defined once for pytest (bench/conftest.py) and `python -m bench run`."""

from __future__ import annotations

import argparse
import math

from . import extra_work
from .cases import COMPILE_CHOICES, PROFILES
from ..store.schema import FILES
from .runtime import DEFAULT_KERAS_BACKEND, KERAS_BACKENDS, available_cores, parse_positive, parse_threads


class UsageError(Exception):
    """Bad command-line input: reported in one line, exit status 2 (bench/cli.py)."""


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


# Upper bounds on every count and time a run is given, beside the defaults they bound. They live
# here, with the suite's options, rather than beside impls.spec.MAX_SIZES: those bound a model
# (impls knows nothing of runs), these bound how long and how often the suite and its commands
# time one. Each is far above any useful value and below what would exhaust the machine before
# the first case (--blocks 10**20 made pytest build 10**20 items). --threads is bounded by the
# machine's CPUs (runtime.parse_threads).
LIMITS = dict(
    blocks=1_000,  # the default is 40; a case's budget split 1000 ways is already under a round per block
    epochs=1_000_000,  # `bench seed`: the seed's 1000 takes about a minute per topology on 2 cores
    runs=100,  # `bench stability`: each run times the whole profile in its own process (minutes)
    time_budget_s=7 * 24 * 3600.0,  # --time-budget: a week
)


def parse_count(flag: str, value, limit: str) -> int:
    """A positive integer up to LIMITS[limit]; ValueError naming `flag` otherwise."""
    n = parse_positive(flag, value)
    if n > LIMITS[limit]:
        raise ValueError(f"{flag} must be at most {LIMITS[limit]} (bench/suite/options.py LIMITS), got {n}")
    return n


def parse_seconds(flag: str, value, limit: str) -> float:
    """A finite number of seconds above 0, up to LIMITS[limit]; ValueError naming `flag` otherwise."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not (math.isfinite(seconds) and 0 < seconds <= LIMITS[limit]):
        raise ValueError(f"{flag} must be a number of seconds above 0 and at most {LIMITS[limit]:g} "
                         f"(bench/suite/options.py LIMITS), got {value!r}")
    return seconds


def argparse_type(parse, flag: str, limit: str):
    """`parse(flag, value, limit)` as an argparse type: its ValueError becomes argparse's error."""
    def convert(value):
        try:
            return parse(flag, value, limit)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from e

    return convert


blocks_type = argparse_type(parse_count, "--blocks", "blocks")


def _fraction(flag: str, value, high: float, example: str = "") -> float:
    """A fraction above 0 and at most `high`; ValueError naming `flag` (and `example`, if given) otherwise."""
    try:
        fraction = float(value)
    except (TypeError, ValueError):
        fraction = math.nan
    if not (math.isfinite(fraction) and 0 < fraction <= high):
        raise ValueError(f"{flag} must be a fraction above 0 and at most {high:g}{example}, got {value!r}")
    return fraction


def parse_precision(flag: str, value, limit: str = "") -> float:
    """A fraction above 0 and at most 0.5; ValueError naming `flag` otherwise."""
    return _fraction(flag, value, 0.5, " (0.025 is +-2.5%)")


precision_type = argparse_type(parse_precision, "--precision", "")


def parse_share(flag: str, value, limit: str = "") -> float:
    """A fraction above 0 and at most 1; ValueError naming `flag` otherwise."""
    return _fraction(flag, value, 1)


share_type = argparse_type(parse_share, "--budget-share", "")


def extra_work_type(value) -> tuple[str, float]:
    try:
        return extra_work.parse(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e
time_budget_type = argparse_type(parse_seconds, "--time-budget", "time_budget_s")


# Blocks each case is timed in, alternating with the other cases of its problem
# (bench/suite/session.py). 1 is one stretch per case, as pytest-benchmark times.
# 40: a ratio's error falls with the number of blocks rather than their length
# (docs/methods.md, "How a run measures"). A problem whose calls are too long to fill 40
# blocks within its time budget gets fewer, never under MIN_BLOCKS
# (session.Timing.blocks_for).
DEFAULT_BLOCKS = 40
MIN_BLOCKS = 10
# Adaptive precision (bench/suite/session.py extension blocks): after its --blocks blocks, a problem
# gets more, up to EXTENSION times as many, until each of its Keras/torch ratios has a 95% half-width
# within --precision, or until the run's budget (--time-budget, else DEFAULT_RUN_BUDGET_S from the
# process's start) would be passed. 2.5%: five-percent agreement between two runs needs each within
# about half of it. 270 s: a default run within 5 minutes, its save and last peak GEMM included.
DEFAULT_PRECISION = 0.025
EXTENSION = 2
DEFAULT_RUN_BUDGET_S = 270.0
# --budget-share: the share of a run's budget this process's extension blocks may spend (bench/suite/session.py
# shared_budget_s); 1, the whole run, except in a cluster task, which times one problem of a run
# (bench/cluster/units.py budget_shares).
DEFAULT_BUDGET_SHARE = 1.0


# Each finished case prints "tdbench-progress K N OUTCOME CASE" (bench/conftest.py)
# for `python -m bench run` to relay (bench/suite/backend_processes.py).
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
    "--precision": dict(
        dest="tdbench_precision", default=DEFAULT_PRECISION, type=precision_type, metavar="FRACTION",
        help="after --blocks, keep adding blocks to a problem (up to %d times as many) until each of its "
        "Keras/torch ratios has a 95%%%% half-width within FRACTION of it, or the run's budget is spent "
        "(default: %%(default)s; the budget: --time-budget, else %g s)" % (EXTENSION, DEFAULT_RUN_BUDGET_S),
    ),
    "--budget-share": dict(
        dest="tdbench_budget_share", default=DEFAULT_BUDGET_SHARE, type=share_type, metavar="FRACTION",
        help="this process times FRACTION of a run: its extension blocks get that share of the run's budget beyond "
        "its own start-up (default: %(default)s, the whole run; a `bench run --cluster` task gets its problem's "
        "share, bench/cluster/units.py)",
    ),
    "--extra-work": dict(
        dest="tdbench_extra_work", default=None, type=extra_work_type, metavar="FRAMEWORK=FRACTION",
        help="add real work to FRAMEWORK's timed calls, FRACTION of each call's time (torch=0.1), to measure "
        "what `bench compare` detects; needs --results-dir (bench/suite/extra_work.py)",
    ),
    "--time-budget": dict(
        dest="time_budget", default=None, type=time_budget_type, metavar="SECONDS",
        help="start no case after this many seconds; the rest skip with the reason and what was "
        "measured is saved (for runs on a lent machine, e.g. bench/gpu_slice.sh)",
    ),
    "--compile-cache": dict(
        dest="tdbench_compile_cache", default=None, metavar="DIR",
        help="keep compiled code on disk in DIR and reuse it across processes: torch Inductor's FX graph and "
        "AOT autograd caches, JAX's persistent compilation cache, TensorFlow's XLA cache (impls/compile_cache.py); "
        "each row's compile_cache column says whether its first call met a cold or a warm cache "
        "(default: off, every first call compiles from scratch)",
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
