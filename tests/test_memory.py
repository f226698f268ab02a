"""`python -m bench memory`: the probe, the sanity of what it measures, the files and the report.

The sanity tests measure real cases, each in its own process (a few seconds
each): memory must grow with batch and with timesteps in training, where the
activations are kept for the backward pass, and a train step must need more
than an infer call.
"""

import csv
import re

import numpy as np
import pytest

from bench.suite.cases import Case, Size
from bench.cli import main
from bench.suite.harness import case_row
from bench.analysis.derived import memory_comparison_rows
from bench.analysis.save import save_memory
from bench.commands.memory import RssProbe, case_from_json, case_to_json, measure_in_subprocess, memory_row
from bench.store.schema import MEMORY_COLUMNS, MEMORY_FILES
from bench.commands.report import write_report
from bench.store import layout
from bench.store.machine import fingerprint
from bench.store.command_rows import merge_grouped
from bench.store.validate import ResultsError
from bench.store.files import read_csv
from impls import ModelSpec

MIB = 2**20
# Small enough to be quick, large enough that activations (MiB) stand well above page-level noise.
BASE = ModelSpec("many_to_many", timesteps=50, features=16, units=64)


def _case(framework, head, mode, batch=8, spec=BASE, label="x"):
    return Case(Size(label, spec, batch), framework, head, mode, "cpu", "off")


def _peak(case, keras_backend="tensorflow"):
    result = measure_in_subprocess(case, keras_backend, threads=1, timeout=300)
    assert result["status"] == "ok", result
    assert result["mem_method"] == "cpu rss-hwm" and result["baseline_bytes"] > 50 * MIB  # a framework is loaded
    return result["peak_mem_bytes"]


def test_rss_probe_sees_native_allocations_and_resets_between_calls():
    """64 MiB touched by NumPy (not Python objects) shows; a later, smaller call reads its own peak."""
    probe = RssProbe()
    big, _ = probe.measure(lambda: np.ones(64 * MIB // 8).sum())
    small, _ = probe.measure(lambda: np.ones(8 * MIB // 8).sum())
    assert 60 * MIB <= big <= 80 * MIB, big / MIB
    assert 6 * MIB <= small <= 20 * MIB, small / MIB  # not the 64 MiB of the call before


def test_case_round_trips_through_json():
    case = _case("keras", "dense3d", "infer", batch=3, spec=ModelSpec.seed("one_to_many"), label="seed")
    assert case_from_json(case_to_json(case)) == case


def test_the_worker_takes_the_thread_count_from_its_argument(monkeypatch):
    """The parent passes --threads on the worker's command line, not through the environment."""
    from bench.commands import memory

    seen = {}
    monkeypatch.setattr(memory.runtime, "configure", lambda threads, backend=None: seen.update(configure=threads))
    monkeypatch.setattr(memory.runtime, "apply_thread_limits", lambda threads: seen.update(pools=threads))
    monkeypatch.setattr(memory, "measure_case", lambda case: dict(status="ok"))
    case = _case("torch", "broadcast", "infer")
    assert memory.worker_main([case_to_json(case), "2"]) == 0
    assert seen == dict(configure=2, pools=2)


@pytest.mark.slow
def test_torch_memory_grows_with_batch_and_timesteps_and_train_needs_more():
    train = _peak(_case("torch", "broadcast", "train", batch=8))
    wide = _peak(_case("torch", "broadcast", "train", batch=64))
    long = _peak(_case("torch", "broadcast", "train", batch=8, spec=BASE.replace(timesteps=200)))
    infer = _peak(_case("torch", "broadcast", "infer", batch=8))
    assert wide > 3 * train, (wide, train)  # 8x the batch
    assert long > 2 * train, (long, train)  # 4x the steps
    assert train > 2 * infer, (train, infer)  # activations kept for backward, gradients, optimizer update


@pytest.mark.slow
def test_keras_memory_grows_with_batch_and_train_needs_more():
    train = _peak(_case("keras", "dense3d", "train", batch=8))
    wide = _peak(_case("keras", "dense3d", "train", batch=64))
    infer = _peak(_case("keras", "dense3d", "infer", batch=64))
    # TensorFlow's step holds about 3 MiB whatever the batch; 56 more samples of 50 steps keep about 5 MiB more.
    assert wide - train > 2 * MIB, (wide, train)
    # Train keeps activations for backward and gradients: measured about 2x infer, which varies
    # between processes on TensorFlow (its allocator); 1.3x leaves room for that and still fails
    # if train stops holding more than infer.
    assert wide > 1.3 * infer, (wide, infer)


@pytest.mark.slow  # the worker, a process of its own, loads torch before it fails
def test_a_failing_case_is_a_status_not_a_crash():
    result = measure_in_subprocess(_case("torch", "no-such-head", "train"), "tensorflow", threads=1, timeout=120)
    assert result["status"].startswith("failed: exit 1:") and "head must be one of loop, broadcast" in result["status"]


def _row(framework, head, mode, peak, size="mid", status="ok"):
    case = _case(framework, head, mode, batch=32, label=size)
    result = dict(status=status, peak_mem_bytes=peak, first_call_mem_bytes=peak, baseline_bytes=1,
                  mem_method="cpu rss-hwm", params=20801)
    return memory_row(case, "sweeps", "tensorflow", 2, result)


def test_comparison_pairs_every_head_and_skips_what_was_not_measured():
    rows = [_row("keras", "timedistributed", "train", 6e6), _row("keras", "dense3d", "train", 3e6),
            _row("torch", "broadcast", "train", 2e6), _row("torch", "loop", "train", 0),
            _row("torch", "broadcast", "infer", 1e6, status="failed: exit 1: boom")]
    pairs = {(p["keras_head"], p["torch_head"]): p["keras_over_torch_mem"] for p in memory_comparison_rows(rows)}
    assert pairs == {("timedistributed", "broadcast"): 3.0, ("dense3d", "broadcast"): 1.5,
                     ("timedistributed", "loop"): None, ("dense3d", "loop"): None}  # nothing to divide by


@pytest.mark.slow
def test_memory_command_writes_both_files_with_the_method(tmp_path, capsys):
    # The command in-process; each case still measures in a fresh process of its own.
    assert main(["memory", "--profile", "seed", "--topology", "one_to_one", "--mode", "infer",
                 "--backends", "torch", "--threads", "1", "--results-dir", str(tmp_path)]) == 0
    stdout = capsys.readouterr().out
    rows = read_csv(tmp_path / MEMORY_FILES["memory"], required=MEMORY_COLUMNS)
    assert sorted(r["framework"] for r in rows) == ["keras", "torch"]
    assert all(r["status"] == "ok" and r["mem_method"] == "cpu rss-hwm" and int(r["peak_mem_bytes"]) >= 0 for r in rows)
    [pair] = list(csv.DictReader(open(tmp_path / MEMORY_FILES["comparison"])))
    assert (pair["topology"], pair["mode"], pair["size"]) == ("one_to_one", "infer", "seed")
    assert re.search(r"in \d+ s$", stdout.strip())


@pytest.mark.parametrize("argv, message", [
    (["memory", "--backends", "theano"], "--backends takes 'all' or a comma-separated list of tensorflow, jax, torch; got 'theano'"),
    (["memory", "--profile", "huge"], "argument --profile: invalid choice: 'huge'"),
    (["memory", "--profile", "quick", "--size", "batch=4"], "--size batch=4: no such size in this selection; sizes: mid, seed"),
])
def test_bad_memory_options_are_one_line_errors(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_report_draws_memory_against_batch_and_timesteps(tmp_path):
    spec = ModelSpec("many_to_many", timesteps=50, features=16, units=64)
    rows = []
    for label, batch, t in (("mid", 32, 50), ("batch=4", 4, 50), ("batch=256", 256, 50),
                            ("timesteps=10", 32, 10), ("timesteps=200", 32, 200)):
        for framework, head, per_byte in (("keras", "timedistributed", 300), ("torch", "broadcast", 200)):
            for mode in ("train", "infer"):
                case = _case(framework, head, mode, batch=batch, spec=spec.replace(timesteps=t), label=label)
                peak = per_byte * batch * t * (4 if mode == "train" else 1)
                rows.append(memory_row(case, "sweeps", "tensorflow", 2, dict(
                    status="ok", peak_mem_bytes=peak, first_call_mem_bytes=peak, baseline_bytes=1,
                    mem_method="cpu rss-hwm", params=20801)))
    write_report_with_benchmarks(tmp_path)
    assert "No memory.csv in this directory; run `python -m bench memory`." in (tmp_path / "report.md").read_text()
    save_memory(tmp_path, rows)
    written = write_report(tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert "## Peak memory of one call" in text
    assert "| tensorflow | cpu | many_to_many | train | timedistributed | broadcast | 1.83 | 1.22 | 1.50x |" in text
    assert "memory-tensorflow-cpu-sweeps-t2-many_to_many.png" in {p.name for p in written}


def write_report_with_benchmarks(results_dir):
    """The report needs a benchmarks.csv; one torch row of the quick run is enough."""
    from bench.analysis.save import save_run

    case = _case("torch", "broadcast", "infer", batch=1, spec=ModelSpec.seed("many_to_many"), label="seed")
    row = case_row(case, "quick", "tensorflow", 2)
    row.update(compiler="eager", params=146, rounds=5, median_s=1e-3, iqr_s=1e-4, spread=0.1, flops=1580,
               gflops=1.58, status="ok")
    save_run(results_dir, [row], {"cpu": "synthetic", "threads": 2, "machine": fingerprint()})
    return write_report(results_dir)


def test_a_narrowed_run_replaces_its_cases_and_keeps_the_rest(tmp_path):
    first = [_row("keras", "dense3d", "train", 3e6), _row("torch", "broadcast", "train", 2e6)]
    save_memory(tmp_path, first)
    save_memory(tmp_path, [_row("torch", "broadcast", "train", 4e6), _row("torch", "broadcast", "infer", 1e6)])
    rows = read_csv(tmp_path / MEMORY_FILES["memory"])
    assert [(r["framework"], r["mode"], r["peak_mem_bytes"]) for r in rows] == [
        ("keras", "train", "3000000.0"), ("torch", "train", "4000000.0"), ("torch", "infer", "1000000.0")]
    [pair] = read_csv(tmp_path / MEMORY_FILES["comparison"])
    assert float(pair["keras_over_torch_mem"]) == 0.75
    assert merge_grouped(rows, [], ("topology",)) == rows


def test_memory_is_not_merged_into_another_machines_set(tmp_path):
    layout.claim_machine_dir(tmp_path, {"cpu": "Test CPU elsewhere", "cores": 64, "memory_gib": 256, "gpu": "none"})
    with pytest.raises(ResultsError, match="Test CPU elsewhere, 64 cores, 256 GiB.*this machine is"):
        save_memory(tmp_path, [_row("torch", "broadcast", "train", 4e6)])
    assert not (tmp_path / MEMORY_FILES["memory"]).exists()
