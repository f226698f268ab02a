"""`python -m bench run`: backends validated, missing ones skipped, failures named."""

import subprocess
import sys

import pytest

from bench.commands import backend_runs
from bench.cli import UsageError, main


def test_backends_are_validated():
    assert backend_runs.parse_backends("jax, tensorflow,jax") == ["jax", "tensorflow"]
    for bad in ("tensorflow,mxnet", "", " , "):
        with pytest.raises(UsageError, match="--backends takes a comma-separated list of tensorflow, jax, torch"):
            backend_runs.parse_backends(bad)


def test_a_missing_backend_is_reported_and_skipped(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(backend_runs.importlib.util, "find_spec", lambda name: None)
    assert main(["run", "--backends", "jax", "--results-dir", str(tmp_path)]) == 0
    assert "jax: skipped: jax, jaxlib not installed" in capsys.readouterr().out


def test_a_failing_backend_run_is_named_and_exits_1(tmp_path):
    # No case matches: pytest exits 5, which counts as a failed run.
    done = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--backends", "torch", "--profile", "seed",
         "--results-dir", str(tmp_path), "--", "-k", "no_case_is_called_this"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 1
    assert "torch: FAILED (pytest exit 5" in done.stdout
    assert "failed backend(s): torch" in done.stderr
    assert (tmp_path / "logs" / "seed-torch-compile-both-t1.log").exists() and not (tmp_path / "benchmarks.csv").exists()
