"""The benchmark suite end to end, in a subprocess as a user runs it (small selections), and its options."""

import csv
import subprocess
import sys
from types import SimpleNamespace

import pytest

from bench import conftest as bench_conftest
from bench.suite.cases import all_cases
from bench.suite.harness import device_unavailable
from bench.suite.options import checked_option


def run_suite(*args, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "pytest", "bench/", "-p", "no:cacheprovider", *args],
        capture_output=True, text=True, timeout=timeout,
    )


@pytest.mark.slow
def test_timed_run_writes_rows_for_each_case_and_skips_gpu_with_a_reason(small_timed_run):
    """tests/conftest.py's small timed run: every many_to_one case (and one_to_one's CUDA train cases)."""
    done, results = small_timed_run.done, small_timed_run.results_dir
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # What this machine can run decides which cases time and which skip (GPU, the onnx extra).
    selected = small_timed_run.cases
    assert {(c.topology, c.mode) for c in selected if c.device == "cpu"} == {("many_to_one", "train"), ("many_to_one", "infer")}
    reasons = {c.id: device_unavailable(c.framework, c.device) for c in selected}
    runnable = sorted((c.framework, c.head, c.device, c.mode) for c in selected if reasons[c.id] is None)
    skipped = [reason for reason in reasons.values() if reason]
    assert {"keras", "torch"} <= {framework for framework, _, device, _ in runnable if device == "cpu"}
    rows = list(csv.DictReader(open(results / "benchmarks.csv")))
    assert sorted((r["framework"], r["head"], r["device"], r["mode"]) for r in rows) == runnable
    for r in rows:
        assert r["status"] == "ok" and float(r["median_s"]) > 0 and int(r["rounds"]) >= 3
        assert float(r["max_abs_diff"]) <= 1e-5 and 0 < float(r["first_call_s"]) < 600
        assert r["threads"] and r["framework_version"] and r["kernel"]
    assert "benchmark 'many_to_one infer cpu seed b1'" in done.stdout  # Keras and torch, one table
    summary = done.stdout.strip().splitlines()[-1]  # one pytest item per case and step (prepare, then each block)
    assert f"{(small_timed_run.blocks + 1) * len(runnable)} passed" in summary
    # a case on a device this machine lacks is its preparation step alone, skipped saying why
    assert (f"{len(skipped)} skipped" in summary) == bool(skipped)
    assert all(reason in done.stdout for reason in skipped)  # each skip says why (-rs)
    assert (results / "comparison.csv").exists() and (results / "environment.json").exists()


@pytest.mark.slow
def test_untimed_run_writes_nothing(tmp_path):
    # Keras on torch: what is checked is that nothing is written, and such a process does not load TensorFlow
    done = run_suite("--benchmark-disable", "--profile", "seed", "--keras-backend", "torch",
                     "-k", "one_to_one and cpu and infer and not onnxruntime", "--results-dir", str(tmp_path))
    assert done.returncode == 0, done.stdout[-3000:]
    assert "4 passed" in done.stdout and not any(tmp_path.iterdir())  # Keras, torch: prepared, run once


@pytest.mark.parametrize(
    "args, message",
    [(["--profile", "huge"], "argument --profile: invalid choice: 'huge' (choose from 'seed', 'quick', 'full', 'tdtax')"),
     (["--threads", "-1"], "--threads must be a positive integer, got '-1'"),
     (["--threads", "10000"], "--threads must be at most"),
     (["--compile", "maybe"], "argument --compile: invalid choice: 'maybe'")],
)
def test_bad_options_are_refused_naming_valid_values(args, message):
    """What bench/conftest.py checks each option with (bench/suite/options.py), in-process."""
    with pytest.raises(ValueError) as refused:
        checked_option(*args)
    assert message in str(refused.value)


@pytest.mark.slow
def test_a_bad_option_is_one_line_and_exit_2():
    """pytest itself, in a process of its own: the exit status and the one line the check gives."""
    done = run_suite("--benchmark-disable", "--collect-only", "--threads", "-1", timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--threads must be a positive integer, got '-1'" in done.stderr
    assert len((done.stdout + done.stderr).strip().splitlines()) == 1


@pytest.mark.parametrize("status, interrupted, saved", [
    (pytest.ExitCode.OK, False, True), (pytest.ExitCode.TESTS_FAILED, False, True),
    (pytest.ExitCode.INTERRUPTED, False, False), (pytest.ExitCode.INTERNAL_ERROR, False, False),
    # a Ctrl-C that framework code turned into a test failure
    (pytest.ExitCode.TESTS_FAILED, True, False),
])
def test_only_finished_sessions_write_results(status, interrupted, saved):
    calls = []
    fake = SimpleNamespace(save=lambda: calls.append(1), interrupted=interrupted)
    session = SimpleNamespace(config=SimpleNamespace(stash={bench_conftest.SESSION: fake}))
    bench_conftest.pytest_sessionfinish(session, status)
    assert bool(calls) == saved


def test_registry_ids_are_unique_and_readable():
    cases = all_cases("full", "both")
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids))
    assert "many_to_many-keras-timedistributed-train-cpu-mid" in ids
    assert "many_to_many-torch-loop-infer-cuda-jit-timesteps200" in ids
    assert "one_to_one-torch-train-cpu-seed" in ids
    assert "one_to_many-keras-dense3d-infer-cpu-timesteps200" in ids


def test_one_to_many_is_in_every_profile():
    from bench.suite.cases import PROFILES

    for profile in PROFILES:
        cases = all_cases(profile, topologies=("one_to_many",), devices=("cpu",), frameworks=("keras", "torch"))
        assert cases and {c.head for c in cases} == {"timedistributed", "dense3d", "loop", "broadcast"}, profile
