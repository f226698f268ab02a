"""`python -m bench table`: README tables generated from the result files."""

import shutil
from pathlib import Path

import statistics

import pytest

from bench.analysis import result_tables
from bench.cli import main
from bench.analysis.result_tables import ratio_cell
from bench.store.schema import COMPARISON_COLUMNS, TD_TAX_COLUMNS
from bench.store.files import read_csv, write_csv

QUICK = Path(__file__).parent / "data" / "quick_results"


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip("|").split("|")]


def test_prints_the_answer_and_the_per_head_tables(capsys):
    assert main(["table", "--results-dir", str(QUICK)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| topology | size (batch) | mode | Keras on tensorflow, compile off |\n")
    assert "**Keras on tensorflow, cpu, compile off, 2 thread(s)**" in out
    line = next(l for l in out.splitlines() if l.startswith("| many_to_many | mid (b32) | train") and l.count("|") > 5)
    cells = _cells(line)
    assert len(cells) == 9 and all(cells[3:8])  # times and all three head pairs filled
    one_head = next(l for l in out.splitlines() if l.startswith("| one_to_one | seed") and l.count("|") > 5)
    assert _cells(one_head)[5:7] == ["", ""]  # no head pairs
    # the In-short bullet is the comparison's median over the default pairs
    ratios = [float(r["keras_over_torch"]) for r in read_csv(QUICK / "comparison.csv")
              if (r["keras_head"], r["torch_head"]) in result_tables.DEFAULT_PAIRS]
    assert f"median {statistics.median(ratios):.2g}x over the quick profile's {len(ratios)} cases" in out


def _two_slices_with_intervals(results: Path) -> list[dict]:
    """The quick run's comparison as compile off (one interval holding 1) and again as compile on."""
    rows = [{**dict.fromkeys(COMPARISON_COLUMNS, ""), **r} for r in read_csv(results / "comparison.csv")]
    for r in rows:
        if (r["topology"], r["size"], r["mode"], r["keras_head"], r["torch_head"]) == (
                "many_to_many", "mid", "train", "timedistributed", "broadcast"):
            r.update(keras_over_torch="1.05", ci_low="0.9", ci_high="1.2")
    compiled = [dict(r, compile="on", keras_over_torch="2.5", ci_low="2", ci_high="3") for r in rows]
    write_csv(results / "comparison.csv", compiled + rows, COMPARISON_COLUMNS)
    return rows


def test_rewrites_only_the_readme_blocks(tmp_path):
    results = shutil.copytree(QUICK, tmp_path / "results")
    rows = _two_slices_with_intervals(results)
    problems = {(r["topology"], r["size"], r["mode"]) for r in rows if (r["keras_head"], r["torch_head"]) in result_tables.DEFAULT_PAIRS}
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- answer-table:start -->\nold\n<!-- answer-table:end -->\nmiddle\n"
                      "<!-- stability-summary:start -->\nold\n<!-- stability-summary:end -->\nend\n")
    assert main(["table", "--results-dir", str(results), "--readme", str(readme)]) == 0
    text = readme.read_text()
    answer = text.split("<!-- answer-table:start -->\n")[1].split("<!-- answer-table:end -->")[0]
    lines = answer.splitlines()
    # a column per compile setting, off before on (files order them on first), a row per problem
    assert _cells(lines[0])[3:] == ["Keras on tensorflow, compile off", "Keras on tensorflow, compile on"]
    row = next(l for l in lines if l.startswith("| many_to_many | mid (b32) | train |"))
    assert _cells(row)[3:] == ["1.05× [0.90, 1.20]", "2.50× [2.00, 3.00]"]  # holds 1, decides nothing
    assert len([l for l in lines if l.startswith("| ")]) == 1 + len(problems)  # the header, a row each
    # outside the blocks nothing changes; the stability block keeps its text without noise.json
    assert text.startswith("intro\n<!-- answer-table:start -->\n| topology")
    assert "\nmiddle\n<!-- stability-summary:start -->\nold\n<!-- stability-summary:end -->\nend\n" in text


def test_detail_blocks_come_from_their_files(tmp_path):
    results = shutil.copytree(QUICK, tmp_path / "results")
    write_csv(results / "td_tax.csv", [dict(
        topology="many_to_many", framework="torch", backend="torch", keras_backend="tensorflow", compile="off", compiler="eager",
        mode="train", device="cpu", timesteps=200, looped_head="loop", fused_head="broadcast",
        looped_s=0.3, fused_s=0.1, tax=3.0, looped_spread=0.1, fused_spread=0.1)], TD_TAX_COLUMNS)
    details = result_tables.detail_blocks(results, "quick")
    assert set(details) == {"in-short", "comparison-table", "td-tax-table", "td-tax-figures", "td-tax-compiled", "peak-share",
                            "compile-cost"}
    assert "| many_to_many | torch | torch (in the tensorflow run) | eager | train | 3.00 |" in details["td-tax-table"][1]
    assert details["td-tax-figures"][1] == "- many_to_many train: looped over fused head, at 200 steps 3x on native torch (1 run(s)).\n"
    sections = "\n".join(result_tables.report_sections(results, "quick"))
    assert "## Parity: the largest difference of each check\n\nNo parity.csv in this directory." in sections


def test_missing_file_or_markers_are_usage_errors(tmp_path, capsys):
    assert main(["table", "--results-dir", str(tmp_path)]) == 2
    assert "comparison.csv: no such file" in capsys.readouterr().err
    readme = tmp_path / "README.md"
    readme.write_text("no markers here\n")
    assert main(["table", "--results-dir", str(QUICK), "--readme", str(readme)]) == 2
    assert "no <!-- answer-table:start -->" in capsys.readouterr().err
    assert readme.read_text() == "no markers here\n"


def test_markdown_cells_cannot_break_the_table():
    from bench.store import markdown

    lines = markdown.table(["reason", "n"], [["a | b\nc", 1]])
    assert lines == ["| reason | n |", "|---|---|", "| a \\| b c | 1 |"]


@pytest.mark.parametrize("ratio, low, high, shown", [
    ("1.3", "", "", "1.30×"),
    ("1.3", "0.9", "1.8", "1.30× [0.90, 1.80]"),  # holds 1 but reaches past the margin: undecided, not "the same"
    ("1.3", "1.1", "1.5", "1.30× [1.10, 1.50]"),
    ("1.01", "0.97", "1.04", "same (±5%) [0.97, 1.04]"),  # the whole interval within 5% of 1: equivalent
    ("1.03", "1.01", "1.049", "same (±5%) [1.01, 1.05]"),  # slower, but by less than the margin
])
def test_the_same_speed_is_an_interval_within_the_equivalence_margin_not_one_that_holds_1(ratio, low, high, shown):
    assert ratio_cell({"keras_over_torch": ratio, "ci_low": low, "ci_high": high}) == shown


def test_the_answer_reads_in_the_registry_order_whatever_order_the_rows_arrived_in():
    from bench.analysis.result_tables import reading_order

    arrived = [("attention", "mid (b32)", "infer"), ("one_to_one", "mid (b32)", "train"),
               ("one_to_one", "seed (b5)", "infer"), ("one_to_one", "seed (b5)", "train"),
               ("one_to_one", "batch=256 (b256)", "train")]
    assert sorted(arrived, key=reading_order) == [
        ("one_to_one", "seed (b5)", "train"), ("one_to_one", "seed (b5)", "infer"), ("one_to_one", "mid (b32)", "train"),
        ("one_to_one", "batch=256 (b256)", "train"), ("attention", "mid (b32)", "infer")]


def test_a_ratio_whose_run_missed_its_precision_target_is_marked_and_the_note_counts_them(tmp_path):
    """The mark comes from comparison.csv's precision against the --precision its slice's run recorded."""
    from bench.store.files import write_json

    row = {"keras_over_torch": "1.3", "ci_low": "1.2", "ci_high": "1.4"}
    assert ratio_cell({**row, "precision": "0.04", "precision_target": 0.025}) == "1.30× [1.20, 1.40] †"
    assert ratio_cell({**row, "precision": "0.02", "precision_target": 0.025}) == "1.30× [1.20, 1.40]"
    assert ratio_cell({**row, "precision": "0.04", "precision_target": None}) == "1.30× [1.20, 1.40]"  # no target kept
    results = tmp_path / "r"
    shutil.copytree(QUICK, results)
    rows = read_csv(results / "comparison.csv")
    name = "keras_backend={keras_backend} device={device} profile={profile} compile={compile} threads={threads}"
    write_json(results / "environment.json", {"slices": {name.format(**r): {"precision": 0.025} for r in rows}})
    for i, r in enumerate(rows):
        r.update({c: r.get(c, "") for c in COMPARISON_COLUMNS}, precision=0.04 if i % 2 else 0.01)
    write_csv(results / "comparison.csv", rows, COMPARISON_COLUMNS)
    table = result_tables.answer_markdown(results, "quick")
    shown = [r for r in result_tables.default_pairs(results, "quick")]
    missed = sum(float(r["precision"]) > 0.025 for r in shown)
    assert 0 < missed < len(shown) and table.count("†") == missed + 1  # each marked cell, and the note
    assert f"{missed} of {len(shown)} ratios" in table
