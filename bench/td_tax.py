"""`python -m bench td-tax`: looped vs fused per-timestep head, over timesteps, on every backend.

Runs the `tdtax` profile (many_to_many and one_to_many, mid size, timesteps 5 to 200) through
`python -m bench run`; bench/results.py derives results/td_tax.csv from the
rows (tax = looped median / fused median), and this prints it. ONNX Runtime
rows pair the exports of one source (keras-timedistributed over keras-dense3d,
torch-loop over torch-broadcast); for them this also prints each exported
graph's node and matmul counts, before and after ORT's graph optimiser.
"""

from __future__ import annotations

from pathlib import Path

from .backend_runs import add_run_arguments, run_backends
from .results import FILES, load_benchmarks
from .storage import read_csv


def add_arguments(parser) -> None:
    add_run_arguments(parser, default_profile="tdtax", default_compile="off")


def format_tax(rows: list[dict]) -> str:
    lines = [f"{'topology':12s} {'framework':11s} {'backend':11s} {'looped head':22s} {'compile':7s} {'mode':5s} {'T':>4s} "
             f"{'looped ms':>10s} {'fused ms':>9s} {'tax':>6s}"]
    for r in rows:
        lines.append(
            f"{r['topology']:12s} {r['framework']:11s} {r['backend']:11s} {r['looped_head']:22s} {r['compile']:7s} {r['mode']:5s} "
            f"{r['timesteps']:>4s} {float(r['looped_s']) * 1e3:10.2f} {float(r['fused_s']) * 1e3:9.2f} {float(r['tax']):6.2f}"
        )
    return "\n".join(lines)


def format_graph_counts(rows: list[dict]) -> str:
    """Nodes and matmuls of each exported tdtax graph: exported, then after ORT's optimiser."""
    rows = [r for r in rows if r["profile"] == "tdtax" and r["framework"] == "onnxruntime" and r.get("onnx_nodes")]
    if not rows:
        return ""
    lines = [f"{'topology':12s} {'keras backend':13s} {'head':22s} {'T':>4s} {'nodes':>6s} {'matmuls':>7s} {'ORT nodes':>9s} {'ORT matmuls':>11s}"]
    for r in sorted(rows, key=lambda r: (r["topology"], r["keras_backend"], r["head"], int(r["timesteps"]))):
        lines.append(f"{r['topology']:12s} {r['keras_backend']:13s} {r['head']:22s} {r['timesteps']:>4s} {r['onnx_nodes']:>6s} "
                     f"{r['onnx_matmuls']:>7s} {r['ort_nodes']:>9s} {r['ort_matmuls']:>11s}")
    return "\n".join(lines)


def run(args) -> int:
    if args.profile != "tdtax":
        print(f"note: --profile {args.profile}: td_tax.csv is derived from tdtax rows only")
    status = run_backends(args)
    path = Path(args.results_dir) / FILES["td_tax"]
    if path.exists():
        print(format_tax(read_csv(path)))
    counts = format_graph_counts(load_benchmarks(Path(args.results_dir)))
    if counts:
        print("\nexported graphs (ONNX Runtime rows; ORT = after its graph optimiser)\n" + counts)
    return status
