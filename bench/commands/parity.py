"""`python -m bench parity`: every parity check at every parity size, printed and saved.

The same measurements the tests assert on (bench/analysis/parity.py), written to
results/parity.csv so the differences are on record, not only pass/fail.
"""

from __future__ import annotations

import time
from pathlib import Path

from impls import KERAS_HEADS, TORCH_HEADS

from .command_args import add_results_arguments, add_threads_argument, add_topology_argument, check_out_file, results_to_write
from ..store.schema import COMMAND_FILES
from ..store.command_rows import save_rows
from ..analysis.parity import PARITY_CASES, adam_tolerance, forward_diff, gradient_diff, training_diffs
from ..analysis.tolerances import TOLERANCES, TRAINING_STEPS
from ..suite import runtime

COLUMNS = [
    "case", "topology", "batch", "sizes", "check", "keras_head", "torch_head",
    "optimizer", "step", "max_abs_diff", "tolerance", "passed",
]


def add_arguments(parser) -> None:
    add_topology_argument(parser)
    add_threads_argument(parser)
    add_results_arguments(parser, writes=True)
    parser.add_argument("--out", type=Path, default=None,
                        help=f"CSV to write (default: {COMMAND_FILES['parity']} in the result set; float differences "
                        "depend on the machine's kernels, so each machine has its own)")


def case_rows(case: str, spec, batch: int) -> list[dict]:
    base = dict(case=case, topology=spec.topology, batch=batch,
                sizes=" ".join(f"{k}={v}" for k, v in spec.sizes().items()))
    rows = []

    def add(check, kh, th, diff, tolerance, optimizer="", step=""):
        rows.append(dict(base, check=check, keras_head=kh, torch_head=th, optimizer=optimizer,
                         step=step, max_abs_diff=diff, tolerance=tolerance,
                         passed="" if tolerance is None else diff <= tolerance))

    heads = [(kh, th) for kh in KERAS_HEADS for th in TORCH_HEADS]
    for kh, th in heads:
        for direction in ("keras_to_torch", "torch_to_keras"):
            add(f"forward {direction}", kh, th, forward_diff(spec, batch, kh, th, direction), TOLERANCES["forward"])
    kh, th = "timedistributed", "loop"  # the seed's literal form on both sides
    add("gradient", kh, th, max(gradient_diff(spec, batch, kh, th).values()), TOLERANCES["gradient"])
    for opt, steps in training_diffs(spec, batch, kh, th, ("sgd",)).items():
        for step, diff in steps.items():
            add("train", kh, th, diff, TOLERANCES["sgd"], opt, step)
    for opt, steps in training_diffs(spec, batch, kh, th, ("adam", "keras_adam")).items():
        for step, diff in steps.items():
            add("train", kh, th, diff, adam_tolerance(spec.topology, opt, step), opt, step)
    return rows


def run(args) -> int:
    args.out = args.out or results_to_write(args) / COMMAND_FILES["parity"]
    check_out_file(args.out, COMMAND_FILES["parity"])

    runtime.configure(args.threads)
    runtime.apply_thread_limits(args.threads)
    rows = []
    for case, (spec, batch) in PARITY_CASES.items():
        if args.topology and spec.topology != args.topology:
            continue
        start = time.perf_counter()
        found = case_rows(case, spec, batch)
        rows += found
        print(_summary(case, found, time.perf_counter() - start), flush=True)
    save_rows(args.out, rows, COLUMNS, group=("case",))
    print(f"wrote {args.out}")
    failed = [r for r in rows if r["passed"] is False]
    for r in failed:
        print(f"FAILED {r['case']} {r['check']} {r['optimizer']} step {r['step']}: "
              f"{r['max_abs_diff']:.2e} > {r['tolerance']:.0e}")
    return 1 if failed else 0


def _summary(case, rows, seconds) -> str:
    def worst(pred):
        diffs = [r["max_abs_diff"] for r in rows if pred(r)]
        return f"{max(diffs):.1e}" if diffs else "-"

    last = lambda opt: worst(lambda r: r["optimizer"] == opt and r["step"] == TRAINING_STEPS)
    return (
        f"{case:20s} forward {worst(lambda r: r['check'].startswith('forward'))}  "
        f"gradient {worst(lambda r: r['check'] == 'gradient')}  "
        f"after {TRAINING_STEPS} steps: sgd {last('sgd')}  keras-rule adam {last('keras_adam')}  "
        f"torch.optim.Adam {last('adam')}  ({seconds:.0f} s)"
    )
