"""`python -m bench params`: each layer's parameter count in Keras, torch, and by formula.

Counts come from models actually built in both frameworks; the formula
column is impls.params written out with the numbers filled in. A layer whose
count disagrees with its formula is flagged, and the command exits 1.
"""

from __future__ import annotations

from pathlib import Path

from impls import layer_formulas

from .command_args import add_size_arguments, check_out_file, add_threads_argument, add_topology_argument, make_spec, selected_topologies
from ..store.markdown import text_table
from ..store.layout import RESULTS_ROOT
from ..store.schema import COMMAND_FILES
from ..store.command_rows import save_rows
from impls.contract import framework_class
from ..suite import runtime

COLUMNS = [
    "topology",
    "layer",
    "kind",
    "keras",
    "torch_native",
    "torch_keras_compatible",
    "formula",
    "formula_value",
    "torch_native_formula_value",
    "matches",
    "sizes",
]


def add_arguments(parser) -> None:
    add_topology_argument(parser)
    add_size_arguments(parser)
    add_threads_argument(parser)
    parser.add_argument("--out", type=Path, default=RESULTS_ROOT / COMMAND_FILES["params"],
                        help="CSV to write (default: %(default)s; counts do not depend on the machine, so one file for all)")


def params_rows(spec) -> list[dict]:
    """One row per layer with weights, then a total row."""
    from impls import build_keras, build_torch  # late: loads Keras and torch, after runtime.configure set their threads

    keras_count, torch_count = framework_class("keras").count_params, framework_class("torch").count_params
    keras_model = build_keras(spec)
    native = build_torch(spec, torch_bias="native")
    compatible = build_torch(spec)
    sizes = " ".join(f"{k}={v}" for k, v in spec.sizes().items())
    rows = []
    for f in layer_formulas(spec):
        row = dict(
            topology=spec.topology,
            layer=f.layer,
            kind=f.kind,
            keras=keras_count(keras_model, f.layer),
            torch_native=torch_count(native, f.layer),
            torch_keras_compatible=torch_count(compatible, f.layer, trainable_only=True),
            formula=f.formula,
            formula_value=f.count,
            torch_native_formula_value=f.torch_native_count,
            sizes=sizes,
        )
        rows.append(row)
    total = dict(topology=spec.topology, layer="total", kind="model", formula="sum of the layers", sizes=sizes)
    for col in ("keras", "torch_native", "torch_keras_compatible", "formula_value", "torch_native_formula_value"):
        total[col] = sum(r[col] for r in rows)
    # Whole-model counts straight from the frameworks, not the sum of our rows.
    total["keras"] = keras_count(keras_model)
    total["torch_native"] = torch_count(native)
    total["torch_keras_compatible"] = torch_count(compatible, trainable_only=True)
    rows.append(total)
    for r in rows:
        r["matches"] = (
            r["keras"] == r["formula_value"] == r["torch_keras_compatible"]
            and r["torch_native"] == r["torch_native_formula_value"]
        )
    return rows


def format_table(rows) -> str:
    headers = ["layer", "kind", "keras", "torch native", "torch keras-compat", "formula (Keras)", "ok"]
    body = [
        [r["layer"], r["kind"], r["keras"], r["torch_native"], r["torch_keras_compatible"],
         f"{r['formula']} = {r['formula_value']}", "yes" if r["matches"] else "NO"]
        for r in rows
    ]
    return "\n".join(text_table(headers, body))


def run(args) -> int:
    specs = [make_spec(t, args) for t in selected_topologies(args)]
    check_out_file(args.out, COMMAND_FILES["params"])
    runtime.configure(args.threads)
    runtime.apply_thread_limits(args.threads)
    all_rows = []
    for spec in specs:
        rows = params_rows(spec)
        all_rows += rows
        print(f"{spec.topology}  ({rows[0]['sizes']})")
        print(format_table(rows))
        print()
    save_rows(args.out, all_rows, COLUMNS, group=("topology", "sizes"), machine_bound=False)
    print(f"wrote {args.out}")
    bad = [f"{r['topology']}.{r['layer']}" for r in all_rows if not r["matches"]]
    if bad:
        print(f"counts disagree with the formula for: {', '.join(bad)}")
        return 1
    return 0
