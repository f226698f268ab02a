"""`python -m bench table`: the README's generated blocks, as Markdown, from the result files.

Without --readme it prints the README's blocks and the detail blocks (every
head pair, the TimeDistributed tax, parity, parameters, the seed's
experiment; bench/analysis/result_tables.py writes them all). With --readme, each
README block replaces what lies between its markers (<!-- NAME:start --> ...
<!-- NAME:end -->), so the README shows the committed results and never a
hand-typed number. A block whose file is absent is left as it is.
"""

from __future__ import annotations

from pathlib import Path

from ..analysis import result_tables
from .command_args import UsageError, add_results_arguments, results_to_read
from ..store.schema import FILES
from ..store.files import atomic_write_text
from ..store.validate import check_results_dir


def add_arguments(parser) -> None:
    add_results_arguments(parser)
    parser.add_argument("--profile", default="quick", help="the comparison tables' profile (default: %(default)s)")
    parser.add_argument("--readme", type=Path, help="rewrite the generated blocks of this README in place")


def run(args) -> int:
    if args.readme and not args.readme.is_file():
        raise UsageError(f"--readme {args.readme}: no such file")
    # The README quotes the reference machine's set, whichever machine rewrites it.
    results_dir = results_to_read(args, default_to_reference=bool(args.readme))
    if not (results_dir / FILES["comparison"]).exists():
        raise UsageError(f"{results_dir / FILES['comparison']}: no such file; run the benchmarks first")
    check_results_dir(results_dir)
    blocks = result_tables.readme_blocks(results_dir, args.profile)
    if not args.readme:
        details = result_tables.detail_blocks(results_dir, args.profile)
        print("\n".join([*blocks.values(), *(text for _, text in details.values())]), end="")
        return 0
    text = args.readme.read_text()
    for name, block in blocks.items():
        replaced = result_tables.replace_block(text, name, block)
        if replaced is None:
            raise UsageError(f"{args.readme}: no <!-- {name}:start --> ... <!-- {name}:end --> block to replace")
        text = replaced
    atomic_write_text(args.readme, text)
    print(f"updated {', '.join(blocks)} in {args.readme}")
    return 0
