"""`python -m bench run`: backends validated, missing ones skipped, failures named, duration and answer told."""

import json
import shutil
import sys
from pathlib import Path

import pytest

from bench.analysis import run_estimate
from bench.suite import backend_processes
from bench.cli import UsageError, main
from bench.store import layout

ROOT = Path(__file__).resolve().parents[1]


def test_backends_are_validated():
    assert backend_processes.parse_backends("jax, tensorflow,jax") == ["jax", "tensorflow"]
    assert backend_processes.parse_backends("all") == ["tensorflow", "jax", "torch"]
    for bad in ("tensorflow,mxnet", "", " , "):
        with pytest.raises(UsageError, match="--backends takes 'all' or a comma-separated list of tensorflow, jax, torch"):
            backend_processes.parse_backends(bad)


def test_a_missing_backend_is_reported_and_skipped(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(backend_processes.importlib.util, "find_spec", lambda name: None)
    assert main(["run", "--backends", "jax", "--results-dir", str(tmp_path)]) == 0
    assert "jax: skipped: jax, jaxlib not installed" in capsys.readouterr().out


def test_a_failing_backend_run_is_named_and_exits_1(monkeypatch, tmp_path, capsys):
    # A stand-in for the backend's pytest process (no framework loaded): it exits 5, as pytest does when
    # no case matches, which counts as a failed run. A real backend process: the two-process test below.
    child = "print('no tests ran'); raise SystemExit(5)"
    monkeypatch.setattr(backend_processes, "pytest_command", lambda backend, args: [sys.executable, "-c", child])
    assert main(["run", "--backends", "torch", "--profile", "seed", "--results-dir", str(tmp_path),
                 "--", "-k", "no_case_is_called_this"]) == 1
    out, err = capsys.readouterr()
    assert "torch: FAILED (pytest exit 5" in out
    assert "failed backend(s): torch" in err
    log = tmp_path / "logs" / "seed-torch-compile-off-t1.log"
    assert log.exists() and "no tests ran" in log.read_text() and not (tmp_path / "benchmarks.csv").exists()


def test_a_run_says_what_it_expects_then_ends_with_the_answer_beside_the_reference(monkeypatch, tmp_path, capsys):
    # The suite itself is not started (run_backend stands in): what the command says around it.
    shutil.copy(layout.reference_dir(ROOT / layout.RESULTS_ROOT) / "comparison.csv", tmp_path)
    monkeypatch.setattr(backend_processes, "run_backend", lambda backend, args, log: 0)
    assert main(["run", "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1 backend(s) (tensorflow), quick profile, compile off: ")
    assert "took " in out and "tensorflow: ok" in out
    reference = layout.reference_name(ROOT / layout.RESULTS_ROOT)
    assert "Keras on tensorflow, compile off: this machine" in out and f"against the reference ({reference})" in out
    assert "yes (" in out  # the same set beside itself agrees in every cell it has an interval for


def environment_with_run(directory: Path, backend: str, wall_s: float, steps: int, profile_steps: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    name = f"keras_backend={backend} device=cpu profile=quick compile=off threads=1"
    run = {"compile": "off", "wall_s": wall_s, "steps": steps, "profile_steps": profile_steps}
    (directory / "environment.json").write_text(json.dumps({"slices": {name: {"run": run}}}))


def test_the_expected_duration_comes_from_this_machine_else_the_reference_and_says_which(tmp_path):
    mine, reference = tmp_path / "mine", tmp_path / "reference"
    environment_with_run(reference, "tensorflow", 300.0, 100, 100)
    line = run_estimate.expected(mine, reference, ["tensorflow"], "quick", "off", [1])
    assert line.endswith("about 5.0 min on the reference machine (reference); an estimate only, "
                         "this machine has no run of these slices yet")
    environment_with_run(mine, "tensorflow", 45.0, 5, 100)  # one problem of 20 (a cluster task): not scaled up
    assert "on the reference machine (reference)" in run_estimate.expected(mine, reference, ["tensorflow"], "quick", "off", [1])
    environment_with_run(mine, "tensorflow", 60.0, 50, 100)  # a -k run of half the profile: scaled up
    assert run_estimate.expected(mine, reference, ["tensorflow"], "quick", "off", [1]).endswith(
        "expected about 2.0 min, from this machine's earlier runs")
    assert run_estimate.expected(mine, reference, ["jax"], "quick", "off", [1]).endswith("so no estimate yet")
    assert run_estimate.expected(mine, reference, ["tensorflow"], "quick", "off", [1], "auto") == (
        "1 backend(s) (tensorflow), quick profile, compile off, at least 2 processes each: expected at least 4.0 min, "
        "from this machine's earlier runs")


@pytest.mark.slow
def test_a_run_of_two_processes_combines_them_into_one_set_with_process_labelled_blocks(tmp_path, capsys):
    """`bench run --processes 2`: two pytest processes, one row per case, each case's blocks labelled by
    process, and an interval that says it holds the variance between processes."""
    import json

    from bench.store.files import read_csv

    results = tmp_path / "results"
    # Keras on torch: what is checked is how the processes combine, and such a process does not load TensorFlow
    assert main(["run", "--processes", "2", "--backends", "torch", "--blocks", "10", "--results-dir", str(results), "--",
                 "-k", "many_to_one and seed and infer and cpu and not onnxruntime",
                 "--benchmark-max-time=0.05", "--benchmark-min-rounds=3", "--benchmark-min-time=0.001"]) == 0
    assert "process 2 of 2" in capsys.readouterr().out
    rows = read_csv(results / "benchmarks.csv")
    assert sorted(r["framework"] for r in rows) == ["keras", "torch"]
    (raw_file,) = (results / "raw").glob("*.json")
    for entry in json.loads(raw_file.read_text())["benchmarks"]:
        labels = entry["extra_info"]["block_process"]
        assert sorted(set(labels)) == [0, 1] and len(labels) == len(entry["extra_info"]["block_rounds"])
    (pair,) = read_csv(results / "comparison.csv")
    assert pair["interval_noise"] == "this run's blocks and processes only" and float(pair["ci_low"]) > 0
    (env,) = json.loads((results / "environment.json").read_text())["slices"].values()
    assert env["processes"] == 2 and len(env["run"]["process_wall_s"]) == 2
    assert main(["run", "--processes", "0"]) == 2  # one line, exit 2
