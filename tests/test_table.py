"""`python -m bench table`: README tables generated from the result files."""

import shutil
from pathlib import Path

import statistics

import pytest

from bench import prose
from bench.cli import main
from bench.storage import read_csv
from bench.table import ratio_cell
from bench.results import TD_TAX_COLUMNS
from bench.storage import write_csv

QUICK = Path(__file__).parent / "data" / "quick_results"


def test_prints_the_ratio_table(capsys):
    assert main(["table", "--results-dir", str(QUICK)]) == 0
    out = capsys.readouterr().out
    assert "**Keras on tensorflow, cpu, compile off, 2 thread(s)**" in out
    line = next(l for l in out.splitlines() if l.startswith("| many_to_many | mid (b32) | train"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert len(cells) == 9 and all(cells[3:8])  # times and all three head pairs filled
    one_head = next(l for l in out.splitlines() if l.startswith("| one_to_one | seed"))
    assert [c.strip() for c in one_head.strip("|").split("|")][5:7] == ["", ""]  # no head pairs


def test_rewrites_only_the_readme_blocks(tmp_path):
    results = shutil.copytree(QUICK, tmp_path / "results")
    write_csv(results / "td_tax.csv", [dict(
        topology="many_to_many", framework="torch", backend="torch", keras_backend="tensorflow", compile="off", compiler="eager",
        mode="train", device="cpu", timesteps=200, looped_head="loop", fused_head="broadcast",
        looped_s=0.3, fused_s=0.1, tax=3.0, looped_spread=0.1, fused_spread=0.1)], TD_TAX_COLUMNS)
    readme = tmp_path / "README.md"
    prose_blocks = "".join(f"<!-- {name}:start -->\nold\n<!-- {name}:end -->\n" for name in prose.BLOCKS if name != "stability-summary")
    readme.write_text("intro\n<!-- comparison-table:start -->\nold\n<!-- comparison-table:end -->\nmiddle\n"
                      + prose_blocks + "<!-- td-tax-table:start -->\nold\n<!-- td-tax-table:end -->\nend\n")
    assert main(["table", "--results-dir", str(results), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("intro\n<!-- comparison-table:start -->\n**Keras on tensorflow") and "old" not in text
    assert "| many_to_many | torch | torch (in the tensorflow run) | eager | train | 3.00 |" in text
    assert "\nmiddle\n" in text and text.endswith("<!-- td-tax-table:end -->\nend\n")
    # the prose numbers come from the files too: the In-short bullet is the comparison's median
    ratios = [float(r["keras_over_torch"]) for r in read_csv(results / "comparison.csv")
              if r["keras_head"] == "timedistributed" and r["torch_head"] == "broadcast" or r["keras_head"] == "n/a"]
    assert f"median {statistics.median(ratios):.2g}x over the quick profile's {len(ratios)} cases" in text
    assert "<!-- td-tax-figures:start -->\n- many_to_many train: looped over fused head, at 200 steps 3x on native torch (1 run(s)).\n<!--" in text


def test_missing_file_or_markers_are_usage_errors(tmp_path, capsys):
    assert main(["table", "--results-dir", str(tmp_path)]) == 2
    assert "comparison.csv: no such file" in capsys.readouterr().err
    readme = tmp_path / "README.md"
    readme.write_text("no markers here\n")
    assert main(["table", "--results-dir", str(QUICK), "--readme", str(readme)]) == 2
    assert "no <!-- comparison-table:start -->" in capsys.readouterr().err
    assert readme.read_text() == "no markers here\n"


def test_markdown_cells_cannot_break_the_table():
    from bench import markdown

    lines = markdown.table(["reason", "n"], [["a | b\nc", 1]])
    assert lines == ["| reason | n |", "|---|---|", "| a \\| b c | 1 |"]


@pytest.mark.parametrize("low, high, shown", [
    ("", "", "1.30"), ("0.9", "1.8", "no difference [0.90, 1.80]"), ("1.1", "1.5", "1.30 [1.10, 1.50]"),
])
def test_a_ratio_whose_interval_holds_1_is_no_difference(low, high, shown):
    assert ratio_cell({"keras_over_torch": "1.3", "ci_low": low, "ci_high": high}) == shown
