"""`python -m bench td-tax`: looped vs fused per-timestep head, over timesteps, on every backend.

Runs the `tdtax` profile (many_to_many and one_to_many, mid size, timesteps 5 to 200) through
`python -m bench run`; bench/analysis/derived.py derives results/td_tax.csv from the
rows (tax = looped median / fused median), and this prints it. ONNX Runtime
rows pair the exports of one source (keras-timedistributed over keras-dense3d,
torch-loop over torch-broadcast); for them this also prints each exported
graph's node and matmul counts, before and after ORT's graph optimiser.
"""

from __future__ import annotations

from pathlib import Path

from ..suite.backend_processes import parse_backends, run_backends
from .command_args import UsageError, add_run_arguments, results_to_write
from ..store.markdown import text_table
from ..store.schema import FILES
from ..store.results import load_benchmarks
from ..store.files import read_csv
from ..store.units import ms


def add_arguments(parser) -> None:
    add_run_arguments(parser, default_profile="tdtax", default_compile="off", default_backends="all")


def format_tax(rows: list[dict]) -> str:
    header = ["topology", "framework", "backend", "looped head", "compile", "mode", "T", "looped ms", "fused ms", "tax"]
    body = [[r["topology"], r["framework"], r["backend"], r["looped_head"], r["compile"], r["mode"], r["timesteps"],
             f"{ms(r['looped_s']):.2f}", f"{ms(r['fused_s']):.2f}", f"{float(r['tax']):.2f}"] for r in rows]
    return "\n".join(text_table(header, body))


def format_graph_counts(rows: list[dict]) -> str:
    """Nodes and matmuls of each exported tdtax graph: exported, then after ORT's optimiser."""
    rows = [r for r in rows if r["profile"] == "tdtax" and r["framework"] == "onnxruntime" and r.get("onnx_nodes")]
    if not rows:
        return ""
    header = ["topology", "keras backend", "head", "T", "nodes", "matmuls", "ORT nodes", "ORT matmuls"]
    columns = ["topology", "keras_backend", "head", "timesteps", "onnx_nodes", "onnx_matmuls", "ort_nodes", "ort_matmuls"]
    rows = sorted(rows, key=lambda r: (r["topology"], r["keras_backend"], r["head"], int(r["timesteps"])))
    return "\n".join(text_table(header, [[r[c] for c in columns] for r in rows]))


def run(args) -> int:
    if args.profile != "tdtax":
        print(f"note: --profile {args.profile}: td_tax.csv is derived from tdtax rows only")
    parse_backends(args.backends)  # a bad --backends is said before a result set is chosen
    if args.cluster:  # accepted by the shared run options, not yet carried out: said, never run here instead
        raise UsageError("td-tax --cluster: not supported yet; run `python -m bench run --cluster ADDRESS --profile "
                         "tdtax --backends all` (td_tax.csv is derived from its rows), or td-tax on one machine")
    args.results_dir = results_to_write(args)
    status = run_backends(args)
    path = Path(args.results_dir) / FILES["td_tax"]
    if path.exists():
        print(format_tax(read_csv(path)))
    counts = format_graph_counts(load_benchmarks(Path(args.results_dir)))
    if counts:
        print("\nexported graphs (ONNX Runtime rows; ORT = after its graph optimiser)\n" + counts)
    return status
