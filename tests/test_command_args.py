"""The commands' shared pieces: one home for their options, a dispatcher nothing imports back, one text-table writer."""

import ast
from pathlib import Path

import pytest

from bench.store import markdown
from bench.cli import COMMANDS, build_parser
from bench.suite.options import OPTIONS

BENCH = Path(__file__).resolve().parents[1] / "bench"
# Still import UsageError from bench.cli; bench/commands/command_args.py is its home (to change with their rewrite).
NOT_YET_MOVED: set = set()


def _imported_modules(path: Path) -> set[str]:
    """Every module `path` imports (relative ones as "bench.NAME"), at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = ("bench." if node.level else "") + (node.module or "")
            found |= {base} if node.module else {f"bench.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


def test_no_command_imports_the_dispatcher_and_it_imports_no_command():
    importers = {p.name for p in BENCH.glob("*.py") if "bench.cli" in _imported_modules(p)}
    assert importers - NOT_YET_MOVED == {"__main__.py"}
    commands = {f"bench.{module}" for module, _ in COMMANDS.values()}
    assert not _imported_modules(BENCH / "cli.py") & commands


@pytest.mark.parametrize("command", [c for c in COMMANDS if c not in ("compare", "detection", "report", "table", "migrate", "reanalyse")])
def test_threads_default_is_the_suites_in_every_command(command):
    parser = build_parser(command)
    required = {"compare": ["a", "b"]}.get(command, [])
    args = parser.parse_args([command, *required])
    assert args.threads == OPTIONS["--threads"]["default"]


def test_text_table_right_aligns_numbers_and_rules_the_header():
    lines = markdown.text_table(["name", "ms", "note"], [["a", "1.5", ""], ["long name", "10", "slow"]])
    assert lines == [
        "name        ms  note",
        "---------  ---  ----",
        "a          1.5",
        "long name   10  slow",
    ]
    assert markdown.text_table(["x", "y"], [["1", "2"]], align="<<")[2] == "1  2"
    with pytest.raises(ValueError, match="row 0 has 1 cells, the header 2"):
        markdown.text_table(["x", "y"], [["1"]])
