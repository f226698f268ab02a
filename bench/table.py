"""`python -m bench table`: the README's result tables, as Markdown, from the result files.

Each block comes from one file of results/ (BLOCKS); with --readme, each
replaces what lies between its markers (<!-- NAME:start --> ... <!-- NAME:end -->),
so the README shows the committed results and never a hand-typed number.
A block whose file is absent is left as it is.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from . import markdown, prose
from .cli import UsageError
from .results import FILES
from .storage import atomic_write_text, read_csv
from .validate import check_results_dir

# Head pairs, as columns: the seed's literal form on both sides, the fused form on
# both sides, and each framework's default (Keras's TimeDistributed, torch's broadcast).
PAIRS = {
    "looped (TD / loop)": ("timedistributed", "loop"),
    "fused (dense3d / broadcast)": ("dense3d", "broadcast"),
    "defaults (TD / broadcast)": ("timedistributed", "broadcast"),
}
NO_HEAD_PAIR = ("n/a", "n/a")


def add_arguments(parser) -> None:
    parser.add_argument("--results-dir", type=Path, default=Path("results"), help="default: %(default)s")
    parser.add_argument("--profile", default="quick", help="the comparison table's profile (default: %(default)s)")
    parser.add_argument("--readme", type=Path, help="rewrite the table blocks of this README in place")


def _ms(value) -> str:
    return f"{float(value) * 1e3:.3g}"


def _rows(results_dir: Path, name: str, keep=lambda r: True) -> list[dict]:
    path = results_dir / (FILES[name] if name in FILES else name)
    try:
        rows = [r for r in read_csv(path) if keep(r)]
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file; run the benchmarks first") from None
    except ValueError as e:
        raise UsageError(str(e)) from e
    if not rows:
        raise UsageError(f"{path}: no rows to tabulate")
    return rows


def _by_slice(rows, columns) -> dict[tuple, list[dict]]:
    slices: dict[tuple, list] = {}
    for r in rows:
        slices.setdefault(tuple(r[c] for c in columns), []).append(r)
    return dict(sorted(slices.items()))


def ratio_cell(row: dict) -> str:
    """The ratio and its rerun interval; "no difference" when the interval contains 1."""
    low, high = row.get("ci_low") or "", row.get("ci_high") or ""
    if not (low and high):
        return f"{float(row['keras_over_torch']):.2f}"
    if float(low) <= 1 <= float(high):
        return f"no difference [{float(low):.2f}, {float(high):.2f}]"
    return f"{float(row['keras_over_torch']):.2f} [{float(low):.2f}, {float(high):.2f}]"


def comparison_slice(rows: list[dict]) -> list[str]:
    by_problem: dict[tuple, dict] = {}
    for r in rows:
        by_problem.setdefault((r["topology"], r["size"], r["batch"], r["mode"]), {})[(r["keras_head"], r["torch_head"])] = r
    body = []
    for (topology, size, batch, mode), pairs in by_problem.items():
        if NO_HEAD_PAIR in pairs:  # one head: its one pair is the default
            cells, default = [None, None, pairs[NO_HEAD_PAIR]], pairs[NO_HEAD_PAIR]
        else:
            cells = [pairs.get(p) for p in PAIRS.values()]
            default = pairs.get(PAIRS["defaults (TD / broadcast)"])
        if default is None:
            continue
        body.append([
            topology, f"{size} (b{batch})", mode, _ms(default["keras_median_s"]), _ms(default["torch_median_s"]),
            *("" if c is None else ratio_cell(c) for c in cells),
            f"{float(default['keras_spread']):.0%}, {float(default['torch_spread']):.0%}",
        ])
    return markdown.table(["topology", "size", "mode", "Keras ms", "torch ms", *PAIRS, "spread (K, T)"], body)


def comparison_markdown(results_dir: Path, profile: str) -> str:
    rows = _rows(results_dir, "comparison", lambda r: r["profile"] == profile)
    out = []
    for r in rows:
        r.setdefault("threads", "")  # files written before threads were a slice column
    for (backend, device, compile, threads), of_slice in _by_slice(rows, ["keras_backend", "device", "compile", "threads"]).items():
        threads_note = f", {threads} thread(s)" if threads else ""
        out += [f"**Keras on {backend}, {device}, compile {compile}{threads_note}** (Keras median / torch median)", ""]
        out += comparison_slice(of_slice) + [""]
    return "\n".join(out).rstrip() + "\n"


def td_tax_markdown(results_dir: Path) -> str:
    """Tax (looped / fused median) per timesteps; a row per framework, backend, compile and mode."""
    rows = _rows(results_dir, "td_tax")
    out = []
    for (device,), of_device in _by_slice(rows, ["device"]).items():
        timesteps = sorted({int(r["timesteps"]) for r in of_device})
        lines: dict[tuple, dict] = {}
        for r in of_device:
            backend = {"keras": r["keras_backend"], "onnxruntime": f"{r['looped_head'].rpartition('-')[0]} export"}.get(
                r["framework"], "torch")
            key = (r["topology"], r["framework"], backend if r["framework"] == "keras" else f"{backend} (in the {r['keras_backend']} run)",
                   r["compiler"], r["mode"])
            lines.setdefault(key, {})[int(r["timesteps"])] = f"{float(r['tax']):.2f}"
        header = ["topology", "framework", "backend", "compiler", "mode", *(f"T={t}" for t in timesteps)]
        body = [[*key, *(taxes.get(t, "") for t in timesteps)] for key, taxes in sorted(lines.items())]
        out += [f"**{device}** (looped median / fused median)", "", *markdown.table(header, body), ""]
    return "\n".join(out).rstrip() + "\n"


def parity_markdown(results_dir: Path) -> str:
    """The largest difference of each check, per parity case (from `python -m bench parity`)."""
    rows = _rows(results_dir, "parity.csv")
    checks = {
        "forward": lambda r: r["check"].startswith("forward"),
        "gradient": lambda r: r["check"] == "gradient",
        "20 SGD steps": lambda r: r["optimizer"] == "sgd" and r["step"] == "20",
        "20 Adam steps, KerasAdam": lambda r: r["optimizer"] == "keras_adam" and r["step"] == "20",
        "20 Adam steps, torch.optim.Adam": lambda r: r["optimizer"] == "adam" and r["step"] == "20",
    }
    body = []
    for case in dict.fromkeys(r["case"] for r in rows):
        of_case = [r for r in rows if r["case"] == case]
        worst = [max((float(r["max_abs_diff"]) for r in of_case if pick(r)), default=None) for pick in checks.values()]
        body.append([case, of_case[0]["batch"], of_case[0]["sizes"], *("" if w is None else f"{w:.1e}" for w in worst)])
    return "\n".join(markdown.table(["case", "batch", "sizes", *checks], body)) + "\n"


def params_markdown(results_dir: Path, topology: str = "many_to_many") -> str:
    """`python -m bench params` output for one topology, from results/params.csv."""
    from .params_report import format_table

    rows = _rows(results_dir, "params.csv", lambda r: r["topology"] == topology)
    for r in rows:
        r["matches"] = r["matches"] == "True"
    return f"```\n$ python -m bench params --topology {topology}\n{topology}  ({rows[0]['sizes']})\n{format_table(rows)}\n```\n"


def seed_markdown(results_dir: Path, topology: str = "many_to_many") -> str:
    """The seed's printout for one topology, every run side by side (from `python -m bench seed`)."""
    from .seed_experiment import seed_data

    runs = [r for r in _rows(results_dir, "seed.csv", lambda r: r["topology"] == topology) if r["method"] != "initial"]
    targets = seed_data(topology)[1].ravel()
    predictions = [json.loads(r["predictions"]) for r in runs]
    header = ["target", *(f"{r['framework']} {r['method']}" for r in runs)]
    body = [[f"{t:.2f}", *(f"{p[i]:.2f}" for p in predictions)] for i, t in enumerate(targets)]
    body.append(["final loss", *(f"{float(r['final_loss']):.2e}" for r in runs)])
    body.append(["max abs error", *(f"{float(r['max_abs_error']):.3f}" for r in runs)])
    body.append(["train s", *(f"{float(r['train_s']):.1f}" for r in runs)])
    steps = runs[0]["steps"]
    return f"{topology}, {steps} steps each:\n\n" + "\n".join(markdown.table(header, body)) + "\n"


def replace_block(text: str, name: str, block: str, path: Path) -> str:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise UsageError(f"{path}: no {start} ... {end} block to replace")
    return pattern.sub(lambda _: f"{start}\n{block}{end}", text)


# README block -> (the file it comes from, how it is written)
BLOCKS = {
    "comparison-table": (FILES["comparison"], lambda d, args: comparison_markdown(d, args.profile)),
    "td-tax-table": (FILES["td_tax"], lambda d, args: td_tax_markdown(d)),
    "parity-summary": ("parity.csv", lambda d, args: parity_markdown(d)),
    "params-many-to-many": ("params.csv", lambda d, args: params_markdown(d)),
    "seed-many-to-many": ("seed.csv", lambda d, args: seed_markdown(d)),
    **prose.BLOCKS,
}


def run(args) -> int:
    if not (args.results_dir / FILES["comparison"]).exists():
        raise UsageError(f"{args.results_dir / FILES['comparison']}: no such file; run the benchmarks first")
    if args.readme and not args.readme.is_file():
        raise UsageError(f"--readme {args.readme}: no such file")
    check_results_dir(args.results_dir)
    blocks = {
        name: write(args.results_dir, args)
        for name, (source, write) in BLOCKS.items()
        if (args.results_dir / source).exists()
    }
    if not args.readme:
        print("\n".join(blocks.values()), end="")
        return 0
    text = args.readme.read_text()
    for name, block in blocks.items():
        text = replace_block(text, name, block, args.readme)
    atomic_write_text(args.readme, text)
    print(f"updated {', '.join(blocks)} in {args.readme}")
    return 0
