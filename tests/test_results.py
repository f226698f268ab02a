"""Result files: columns, slice merging, derived comparison, atomic replacement."""

import csv
import json

import pytest

from bench.store import storage
from bench.store.schema import BENCHMARK_COLUMNS, COMPARISON_COLUMNS
from bench.analysis.derived import comparison_rows
from bench.store.results import merge_rows
from bench.analysis.save import save_run
from bench.store.files import atomic_write_text, csv_text, read_csv
from tests.helpers import benchmark_row


def row(framework="keras", head="timedistributed", device="cpu", backend="tensorflow", median=0.002, **extra):
    return benchmark_row(framework, head, median, keras_backend=backend, device=device, threads=2, **extra)


def test_merge_replaces_only_the_measured_slices():
    old = [row(median=1.0), row(device="cuda", median=2.0), row(backend="jax", median=3.0)]
    new = [row(median=0.5)]
    merged = merge_rows(old, new)
    assert sorted(r["median_s"] for r in merged) == [0.5, 2.0, 3.0]


def test_comparison_pairs_every_head_and_computes_the_ratio():
    rows = [
        row(head="timedistributed", median=0.004), row(head="dense3d", median=0.003),
        row("torch", "loop", median=0.002), row("torch", "broadcast", median=0.001),
        row("torch", "broadcast", backend="jax", median=0.001),  # another slice: no pair
        row(head="timedistributed", status="could not run: X", median=None),
    ]
    pairs = {(c["keras_head"], c["torch_head"]): c for c in comparison_rows(rows)}
    assert set(pairs) == {(k, t) for k in ("timedistributed", "dense3d") for t in ("loop", "broadcast")}
    assert pairs[("timedistributed", "broadcast")]["keras_over_torch"] == pytest.approx(4.0)
    assert pairs[("dense3d", "loop")]["keras_over_torch"] == pytest.approx(1.5)
    assert all(set(COMPARISON_COLUMNS) <= set(c) for c in pairs.values())


def test_save_run_merges_writes_all_columns_and_environment(tmp_path):
    save_run(tmp_path, [row(), row("torch", "broadcast", median=0.001)], {"threads": 2})
    save_run(tmp_path, [row(device="cuda"), row("torch", "broadcast", device="cuda")], {"gpu": "H100"})
    with open(tmp_path / "benchmarks.csv") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == BENCHMARK_COLUMNS
        assert sorted(r["device"] for r in reader) == ["cpu", "cpu", "cuda", "cuda"]
    with open(tmp_path / "comparison.csv") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == COMPARISON_COLUMNS
        assert len(list(reader)) == 2
    env = json.loads((tmp_path / "environment.json").read_text())
    assert env["slices"]["keras_backend=tensorflow device=cpu profile=quick compile=off threads=2"] == {"threads": 2}
    assert env["slices"]["keras_backend=tensorflow device=cuda profile=quick compile=off threads=2"] == {"gpu": "H100"}


def test_a_malformed_row_writes_nothing(tmp_path):
    save_run(tmp_path, [row()], {})
    before = (tmp_path / "benchmarks.csv").read_text()
    bad = row()
    del bad["median_s"]
    with pytest.raises(ValueError, match="lacks column.*median_s"):
        save_run(tmp_path, [bad], {})
    assert (tmp_path / "benchmarks.csv").read_text() == before


def test_a_crash_while_writing_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "benchmarks.csv"
    path.write_text("old contents\n")

    def boom(*args):
        raise OSError("disk full")

    monkeypatch.setattr(storage.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(path, "new contents\n")
    assert path.read_text() == "old contents\n"
    assert [p.name for p in tmp_path.iterdir()] == ["benchmarks.csv"]  # no temp file left


def test_an_old_file_with_missing_columns_is_named(tmp_path):
    (tmp_path / "benchmarks.csv").write_text("topology,framework\nx,y\n")
    with pytest.raises(ValueError, match=r"benchmarks.csv: line 1: the header lacks column\(s\) backend"):
        save_run(tmp_path, [row()], {})


def test_csv_text_requires_every_column():
    with pytest.raises(ValueError, match=r"row 0 lacks column\(s\) b"):
        csv_text([{"a": 1}], ["a", "b"])


def test_floats_round_trip_exactly(tmp_path):
    value = 0.1 + 0.2
    atomic_write_text(tmp_path / "x.csv", csv_text([{"v": value}], ["v"]))
    assert float(read_csv(tmp_path / "x.csv")[0]["v"]) == value
