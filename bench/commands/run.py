"""`python -m bench run`: the benchmark suite once per Keras backend, each in its own process.

Keras picks its backend once per process, so each backend gets a fresh
`pytest bench/ --benchmark-only` with KERAS_BACKEND set (bench/suite/backend_processes.py).
Each run merges its own slice into this machine's result set (bench/store/layout.py);
this command only sequences them, shows a progress bar with the time left, says
which backend failed, and ends with this machine's answer beside the
reference machine's.

By default it runs what `pytest bench/ --benchmark-only` runs (Keras's default
backend, compile off, the quick profile): the newcomer's first run.
`--backends all --compile both` is the long run over every backend and
compile setting; it says how long it expects to take before it starts.
"""

from __future__ import annotations

from ..cluster.connect import import_ray
from ..store import layout
from ..suite.backend_processes import parse_backends, run_backends
from ..suite.options import UsageError
from ..suite.runtime import DEFAULT_KERAS_BACKEND
from ..analysis.processes import AUTO
from .command_args import add_run_arguments, results_to_write


def add_arguments(parser) -> None:
    add_run_arguments(parser, default_profile="quick", default_compile="off", default_backends=DEFAULT_KERAS_BACKEND)


def run(args) -> int:
    parse_backends(args.backends)  # a bad --backends is said before a result set is chosen
    if args.cluster and args.compile_cache:
        raise UsageError("--compile-cache is a directory of this machine: it does not reach a cluster's nodes")
    if args.cluster and args.processes == AUTO:  # auto decides after each process; a cluster's are all submitted at once
        raise UsageError("--processes auto with --cluster: a cluster run submits every process of a problem at once; "
                         "give a number (--processes N)")
    if args.cluster:  # the same work on a Ray cluster, a problem (or a process of one) per task, a set per machine kind
        import_ray()  # Ray missing: one line, before its import fails inside the driver
        from ..cluster.driver import run_on_cluster  # late: Ray loads only with --cluster

        args.results_dir = args.results_dir or layout.RESULTS_ROOT  # the root of the machine directories
        return run_on_cluster(args)
    args.results_dir = results_to_write(args)
    return run_backends(args)
