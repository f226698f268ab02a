"""Commands that write a result file merge it as the suite does: the rows of what they ran, in place."""

import shutil
from pathlib import Path

import pytest

from bench.cli import main
from bench.store import layout
from bench.store.command_rows import merge_grouped, save_rows
from bench.store.files import read_csv
from bench.store.validate import ResultsError

ROOT = Path(__file__).resolve().parents[1]
ELSEWHERE = {"cpu": "Test CPU elsewhere", "cores": 64, "memory_gib": 256, "gpu": "none"}


def rows(*cases):
    return [{"case": c, "check": k, "value": f"{c}{k}"} for c in cases for k in ("a", "b")]


def test_a_group_run_again_replaces_its_rows_where_they_stood_and_keeps_the_rest():
    old = rows("x", "y", "z")
    new = [{"case": "y", "check": "c", "value": "new"}, {"case": "w", "check": "a", "value": "new"}]
    merged = merge_grouped(old, new, ("case",))
    assert [(r["case"], r["check"]) for r in merged] == [
        ("x", "a"), ("x", "b"), ("y", "c"), ("z", "a"), ("z", "b"), ("w", "a")]


def test_params_for_one_topology_keeps_every_other_topologys_rows(tmp_path, capsys, monkeypatch):
    # In-process (the merge is what is checked): other tests of this session may have loaded the frameworks
    # already, and the thread set-up needs a fresh process (tests/test_harness.py's and the suite's to check).
    monkeypatch.setattr("bench.suite.runtime.configure", lambda threads, keras_backend=None: None)
    committed = ROOT / layout.RESULTS_ROOT / "params.csv"
    out = Path(shutil.copy(committed, tmp_path / "params.csv"))
    before = read_csv(committed)
    assert main(["params", "--topology", "one_to_one", "--out", str(out)]) == 0, capsys.readouterr().err
    after = read_csv(out)
    assert after == before  # the same counts, every topology kept, in the same order
    assert len({r["topology"] for r in after}) > 1


def test_a_machine_bound_file_is_not_merged_into_another_machines_set(tmp_path):
    layout.claim_machine_dir(tmp_path, ELSEWHERE)
    with pytest.raises(ResultsError, match="Test CPU elsewhere"):
        save_rows(tmp_path / "parity.csv", rows("x"), ["case", "check", "value"], group=("case",))
    assert not (tmp_path / "parity.csv").exists()
    save_rows(tmp_path / "params.csv", rows("x"), ["case", "check", "value"], group=("case",), machine_bound=False)
    assert len(read_csv(tmp_path / "params.csv")) == 2
