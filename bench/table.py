"""`python -m bench table`: the keras_over_torch table from comparison.csv, as Markdown.

With --readme, the table replaces what lies between the README's
<!-- comparison-table --> markers, so the README shows the committed results
and never a hand-typed number.
"""

from __future__ import annotations

import re
from pathlib import Path

from .cli import UsageError
from .results import FILES
from .storage import atomic_write_text, read_csv

START, END = "<!-- comparison-table:start -->", "<!-- comparison-table:end -->"
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
    parser.add_argument("--profile", default="quick", help="which profile's rows (default: %(default)s)")
    parser.add_argument("--readme", type=Path, help="rewrite the table block of this README in place")


def _ratio(row) -> str:
    return f"{float(row['keras_over_torch']):.2f}"


def _ms(value) -> str:
    return f"{float(value) * 1e3:.3g}"


def slice_table(rows: list[dict]) -> list[str]:
    by_problem: dict[tuple, dict] = {}
    for r in rows:
        by_problem.setdefault((r["topology"], r["size"], r["batch"], r["mode"]), {})[(r["keras_head"], r["torch_head"])] = r
    header = ["topology", "size", "mode", "Keras ms", "torch ms", *PAIRS, "spread (K, T)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (topology, size, batch, mode), pairs in by_problem.items():
        default = pairs.get(PAIRS["defaults (TD / broadcast)"]) or pairs.get(NO_HEAD_PAIR)
        if default is None:
            continue
        cells = [pairs[p] if p in pairs else None for p in PAIRS.values()]
        if NO_HEAD_PAIR in pairs:  # one head: the one pair is the default
            cells = [None, None, pairs[NO_HEAD_PAIR]]
        spreads = f"{float(default['keras_spread']):.0%}, {float(default['torch_spread']):.0%}"
        lines.append(
            "| " + " | ".join([
                topology, f"{size} (b{batch})", mode, _ms(default["keras_median_s"]), _ms(default["torch_median_s"]),
                *("" if c is None else _ratio(c) for c in cells), spreads,
            ]) + " |"
        )
    return lines


def comparison_markdown(results_dir: Path, profile: str) -> str:
    path = results_dir / FILES["comparison"]
    try:
        rows = [r for r in read_csv(path, required=["keras_over_torch"]) if r["profile"] == profile]
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file; run the benchmarks first") from None
    except ValueError as e:
        raise UsageError(str(e)) from e
    if not rows:
        raise UsageError(f"{path}: no rows of profile {profile!r}")
    slices: dict[tuple, list] = {}
    for r in rows:
        slices.setdefault((r["keras_backend"], r["device"], r["compile"]), []).append(r)
    out = []
    for (backend, device, compile), of_slice in sorted(slices.items()):
        out += [f"**Keras on {backend}, {device}, compile {compile}** (keras_over_torch: Keras median / torch median)", ""]
        out += slice_table(of_slice) + [""]
    return "\n".join(out).rstrip() + "\n"


def replace_block(text: str, block: str, path: Path) -> str:
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise UsageError(f"{path}: no {START} ... {END} block to replace")
    return pattern.sub(lambda _: f"{START}\n{block}{END}", text)


def run(args) -> int:
    block = comparison_markdown(args.results_dir, args.profile)
    if args.readme:
        atomic_write_text(args.readme, replace_block(args.readme.read_text(), block, args.readme))
        print(f"updated the table in {args.readme}")
    else:
        print(block, end="")
    return 0
