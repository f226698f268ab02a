"""bench/gpu_slice.sh, run here without a GPU: its dry run (TDBENCH_SLICE_DEVICE=cpu) times the CPU
cases of each stage, in priority order, under a small budget, while the CUDA cases skip with their reason."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "gpu_slice.sh"
STAGES = ["torch-backend-eager", "torch-backend-compiled", "stability", "jax-compiled", "jax-eager"]


def test_the_stages_are_in_priority_order_within_the_default_budget():
    text = SCRIPT.read_text()
    calls = re.findall(r"^(?:stage|stability) (\S+) (\d+)", text, re.M)
    assert [name for name, _ in calls] == STAGES
    assert [int(share) for _, share in calls][-1] == 100  # the last stage takes what is left
    assert int(re.search(r"budget=\$\{2:-(\d+)\}", text).group(1)) <= 420  # with start-up, under 10 minutes
    assert "--runs 3" in text  # a stability set: 3 processes


@pytest.mark.slow
def test_a_dry_run_on_the_cpu_runs_every_stage_and_skips_the_cuda_cases_with_the_reason(tmp_path):
    # one_to_one: one time step, the cheapest model to compile (torch.compile, jax.jit), so every stage
    # finishes well within the budget (many_to_one's stages filled it, and the last ones were cut short)
    env = dict(os.environ, TDBENCH_SLICE_DEVICE="cpu", TDBENCH_SLICE_MIN_STAGE_S="1",
               TDBENCH_SLICE_K="one_to_one and seed and infer and not onnxruntime")
    env.pop("KERAS_BACKEND", None)
    done = subprocess.run(["nice", "-n", "19", "bash", str(SCRIPT), str(tmp_path / "out"), "150"],
                          env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout + done.stderr
    headers = [m.group(1) for m in re.finditer(r"^== (\S+):", done.stdout, re.M)]
    assert list(dict.fromkeys(headers)) == STAGES, done.stdout  # each said, run or not, in order
    assert "== torch-backend-eager: up to" in done.stdout and "torch-backend-eager: exit 0" in done.stdout
    with tarfile.open(tmp_path / "out" / "gpu-slice.tgz") as tgz:
        tgz.extractall(tmp_path / "got", filter="data")
    sets = list((tmp_path / "got" / "results").iterdir())
    assert len(sets) == 1  # results/<machine>/, as on any machine
    rows = list(csv.DictReader(open(sets[0] / "benchmarks.csv")))
    assert rows and {r["device"] for r in rows} == {"cpu"}  # the CPU cases were timed
    assert {r["keras_backend"] for r in rows} >= {"torch"}
    log = (tmp_path / "got" / "logs" / "torch-backend-eager.log").read_text()
    assert "no CUDA device: torch.cuda.is_available() is False" in log  # the CUDA path skipped, saying why
    if "== stability: 3 runs" in done.stdout and "stability: exit 0" in done.stdout:  # started, given the time
        assert (sets[0] / "noise.json").exists()  # the set's intervals carry this machine's run-to-run noise
