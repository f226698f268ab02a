"""`python -m bench td-tax`: looped vs fused per-timestep head, over timesteps, on every backend.

Runs the `tdtax` profile (many_to_many and one_to_many, mid size, timesteps 5 to 200) through
`python -m bench run`; bench/results.py derives results/td_tax.csv from the
rows (tax = looped median / fused median), and this prints it.
"""

from __future__ import annotations

from pathlib import Path

from .backend_runs import add_run_arguments, run_backends
from .results import FILES
from .storage import read_csv


def add_arguments(parser) -> None:
    add_run_arguments(parser, default_profile="tdtax", default_compile="off")


def format_tax(rows: list[dict]) -> str:
    lines = [f"{'topology':12s} {'framework':9s} {'backend':10s} {'compile':7s} {'mode':5s} {'T':>4s} {'looped ms':>10s} {'fused ms':>9s} {'tax':>6s}"]
    for r in rows:
        lines.append(
            f"{r['topology']:12s} {r['framework']:9s} {r['backend']:10s} {r['compile']:7s} {r['mode']:5s} {r['timesteps']:>4s} "
            f"{float(r['looped_s']) * 1e3:10.2f} {float(r['fused_s']) * 1e3:9.2f} {float(r['tax']):6.2f}"
        )
    return "\n".join(lines)


def run(args) -> int:
    if args.profile != "tdtax":
        print(f"note: --profile {args.profile}: td_tax.csv is derived from tdtax rows only")
    status = run_backends(args)
    path = Path(args.results_dir) / FILES["td_tax"]
    if path.exists():
        print(format_tax(read_csv(path)))
    return status
