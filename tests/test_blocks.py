"""Cases timed in blocks that alternate within a problem (bench/suite/session.py)."""

import json
import os
import re
import subprocess
import sys

from bench.suite.cases import all_cases
from bench.conftest import block_order
from bench.suite.session import Timing
from bench.store.storage import read_csv


def test_block_order_alternates_the_cases_of_one_problem_block_by_block():
    cases = [c for c in all_cases("seed", "off", devices=("cpu",)) if c.topology in ("one_to_one", "many_to_many")]
    order = block_order(cases, 3)
    assert len(order) == 3 * len(cases) and {c for c, _ in order} == set(cases)
    problems = []  # each problem's items are consecutive, blocks 0, 1, 2 in turn, its cases in registry order
    for case, block in order:
        if not problems or problems[-1][0] != case.group:
            problems.append((case.group, []))
        problems[-1][1].append((case.id, block))
    assert len({group for group, _ in problems}) == len(problems)
    for group, items in problems:
        ids = [c.id for c in cases if c.group == group]
        assert items == [(i, b) for b in range(3) for i in ids]


def test_timing_plan_splits_the_time_budget_over_blocks_and_keeps_the_minimum_rounds():
    timing = Timing(min_time=0.005, max_time=1.5, min_rounds=15, blocks=5)
    assert timing.plan(0.001) == (5, 60)  # 5 calls make a 5 ms round; 0.3 s per block
    assert timing.plan(0.050) == (1, 6)  # a slow call: 0.3 s holds 6 rounds
    assert timing.plan(1.0) == (1, 3)  # slower still: 15 rounds over 5 blocks, whatever the time


def test_a_timed_run_alternates_blocks_and_keeps_each_case_blocks(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "bench/", "-p", "no:cacheprovider", "--benchmark-only", "-v",
         "--profile", "seed", "-k", "many_to_one and infer and cpu and not onnxruntime", "--blocks", "3",
         "--benchmark-max-time=0.03", "--benchmark-min-rounds=3", "--results-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ran = re.findall(r"test_case\[many_to_one-(\w+)-infer-cpu-seed-block(\d)\] PASSED", done.stdout)
    assert ran == [("keras", "1"), ("torch", "1"), ("keras", "2"), ("torch", "2"), ("keras", "3"), ("torch", "3")]
    (raw_file,) = (tmp_path / "raw").glob("*.json")
    entries = json.loads(raw_file.read_text())["benchmarks"]
    rows = {r["framework"]: r for r in read_csv(tmp_path / "benchmarks.csv")}
    assert sorted(e["extra_info"]["case_key"]["framework"] for e in entries) == ["keras", "torch"]
    for e in entries:
        sizes = e["extra_info"]["block_rounds"]
        assert len(sizes) == 3 and min(sizes) >= 1 and sum(sizes) == len(e["stats"]["data"])
        assert int(rows[e["extra_info"]["case_key"]["framework"]]["rounds"]) == sum(sizes)
    (slice_env,) = json.loads((tmp_path / "environment.json").read_text())["slices"].values()
    allowed = sorted(os.sched_getaffinity(0))
    # the timed process ran on one CPU (the last it could use)
    assert slice_env["pinned_cpus"] == (allowed[-1:] if len(allowed) > 1 else None)
    assert slice_env["cores_available"] == len(allowed) and slice_env["blocks"] == 3


def test_blocks_must_be_a_positive_integer():
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "bench/", "-p", "no:cacheprovider", "--benchmark-disable", "--collect-only",
         "--blocks", "0"], capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2 and "--blocks must be a positive integer, got '0'" in done.stderr


def test_later_blocks_of_a_case_whose_first_block_failed_skip_saying_so(monkeypatch, tmp_path):
    import pytest

    from bench.suite import session as session_module
    from tests.helpers import case_of

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(session_module, "prepare", broken)
    monkeypatch.setattr(session_module.BenchSession, "_start", lambda self: None)
    bench = session_module.BenchSession("seed", 1, "tensorflow", tmp_path, Timing(blocks=3))
    case = case_of("many_to_one-torch-infer-cpu-seed")

    class Benchmark:
        disabled, extra_info = False, {}

    with pytest.raises(RuntimeError, match="boom"):
        bench.run(Benchmark(), case, 0)
    with pytest.raises(pytest.skip.Exception, match="its first block failed \\(RuntimeError\\)"):
        bench.run(Benchmark(), case, 1)
    assert bench.rows == [] and not list(tmp_path.iterdir())
