"""`python -m bench report` on a real quick-profile run plus synthetic full-profile sweeps."""

import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.suite.cases import all_cases
from bench.cli import main
from bench.analysis.flops import case_flops
from bench.suite.harness import case_row
from bench.commands.report import TD_TAX
from bench.store.schema import (
    BENCHMARK_COLUMNS, CLUSTER_TASK_COLUMNS, CLUSTER_TASKS, COMPARISON_COLUMNS, FILES, TD_TAX_COLUMNS,
)
from bench.analysis.save import save_run
from bench.store.files import read_csv, write_csv
from impls import model_params
from impls.spec import LOOPED_HEADS

QUICK = Path(__file__).parent / "data" / "quick_results"  # a quick-profile run on 2 CPU cores, as the suite wrote it
# Synthetic time per call: a fixed overhead, then the case's FLOPs at a steady rate, and a
# per-step cost for a head called once per timestep.
OVERHEAD_S = {"keras": 10e-3, "torch": 0.2e-3, "onnxruntime": 0.1e-3}
RATE = 10e9  # FLOP/s
STEP_S = {"keras": 40e-6, "torch": 10e-6, "onnxruntime": 5e-6}
PEAK_GFLOPS = 100.0
# Each topology costs a plot or two (about a second each on 2 busy cores): sweep two of them.
SWEPT_TOPOLOGIES = ("one_to_one", "many_to_many")


def synthetic_full_profile_rows() -> list[dict]:
    rows = []
    for case in all_cases("full", topologies=SWEPT_TOPOLOGIES, devices=("cpu",)):
        params = model_params(case.spec)
        flops = case_flops(case.spec, case.size.batch, case.mode, params)
        steps = case.spec.timesteps if case.head.rpartition("-")[2] in LOOPED_HEADS else 0
        median = OVERHEAD_S[case.framework] + flops / RATE + steps * STEP_S[case.framework]
        gflops = flops / median / 1e9
        row = case_row(case, "full", "tensorflow", threads=2)
        row.update(
            params=params, median_s=median, iqr_s=0.05 * median, spread=0.05, flops=flops, gflops=gflops,
            peak_gflops=PEAK_GFLOPS, peak_fraction=gflops / PEAK_GFLOPS, status="ok",
        )
        rows.append(row)
    rows[0].update(median_s=None, iqr_s=None, status="could not run: synthetic failure")
    return rows


def synthetic_td_tax_rows() -> list[dict]:
    rows = []
    heads = {"keras": ("timedistributed", "dense3d", "tf.function"), "torch": ("loop", "broadcast", "eager")}
    for framework, backend in (("keras", "tensorflow"), ("torch", "torch")):
        looped_head, fused_head, compiler = heads[framework]
        for mode in ("train", "infer"):
            for t in (10, 25, 50, 100, 200):
                fused = OVERHEAD_S[framework] + 20e-6 * t
                looped = fused + STEP_S[framework] * t
                rows.append(dict(topology="many_to_many", framework=framework, backend=backend, keras_backend="tensorflow", compile="off",
                                 compiler=compiler, mode=mode, device="cpu", timesteps=t,
                                 looped_head=looped_head, fused_head=fused_head, looped_s=looped, fused_s=fused,
                                 tax=looped / fused, looped_spread=0.05, fused_spread=0.05))
    return rows


def quick_results(results_dir: Path, topologies=("many_to_many",)) -> Path:
    """A copy of the quick run, cut to `topologies`."""
    shutil.copytree(QUICK, results_dir, dirs_exist_ok=True)
    for name, columns in ((FILES["benchmarks"], BENCHMARK_COLUMNS), (FILES["comparison"], COMPARISON_COLUMNS)):
        # columns added since the copy was taken stay blank
        rows = [{**dict.fromkeys(columns, ""), **r} for r in read_csv(results_dir / name) if r["topology"] in topologies]
        write_csv(results_dir / name, rows, columns)
    return results_dir


def report(results_dir: Path) -> str:
    assert main(["report", "--results-dir", str(results_dir)]) == 0
    return (results_dir / "report.md").read_text()


@pytest.fixture(scope="module")
def full(tmp_path_factory) -> Path:
    """The quick run, synthetic full-profile sweeps and a td_tax.csv (two topologies), reported once."""
    results_dir = quick_results(tmp_path_factory.mktemp("results"), SWEPT_TOPOLOGIES)
    save_run(results_dir, synthetic_full_profile_rows(), {"cpu": "synthetic", "threads": 2})
    write_csv(results_dir / TD_TAX, synthetic_td_tax_rows(), TD_TAX_COLUMNS)
    report(results_dir)
    return results_dir


def test_every_plot_is_written_and_shown(full):
    text = (full / "report.md").read_text()
    shown = set(re.findall(r"!\[[^]]*\]\(([^)]+)\)", text))
    written = {p.name for p in full.glob("*.png")}
    assert shown == written
    assert {"td_tax.png", "scaling-tensorflow-cpu-full-t2-many_to_many.png", "scaling-tensorflow-cpu-full-t2-one_to_one.png",
            "times-tensorflow-cpu-quick-t2-one_to_one.png", "times-tensorflow-cpu-full-t2-many_to_many.png"} <= written
    assert all((full / name).read_bytes().startswith(b"\x89PNG") for name in written)


def test_scaling_table_flags_the_fixed_overhead(full):
    text = (full / "report.md").read_text()
    assert "| topology | mode | variant | batch | timesteps | units |" in text
    overhead = text.split("Fixed overhead dominates:")[1]
    flagged = re.findall(r"^- (\w+) (\w+), (.+?): (\w+) up to", overhead, re.MULTILINE)
    # 10 ms before any work: Keras inference at batch 4..32 (one_to_one's, many_to_many's two heads).
    keras_infer = [f for f in flagged if f[1] == "infer" and f[2].startswith("keras") and f[3] == "batch"]
    assert len(keras_infer) == 3
    assert not [f for f in flagged if f[0] == "many_to_many" and f[2].startswith("torch")]
    assert "No full-profile rows" not in text


def test_largest_size_peak_environment_and_untimed_cases(full):
    text = (full / "report.md").read_text()
    full_run = text.split("## Keras on tensorflow, cpu, full profile")[1]
    assert "| many_to_many | train | units=256 | timedistributed | loop |" in full_run  # most FLOPs per call
    peak_row = r"\| many_to_many \| infer \| units=256 \| torch broadcast \| [\d.]+ \| 100 \| \d+\.\d% \|"
    assert re.search(peak_row, full_run)
    ((quick_slice, machine),) = json.loads((QUICK / FILES["environment"]).read_text())["slices"].items()
    assert f"| {quick_slice} | {machine['date']} | {machine['cpu']} | {machine['cores']} |" in text  # the fixture's machine
    assert "| keras_backend=tensorflow device=cpu profile=full compile=off threads=2 |  | synthetic |" in text
    assert "## Cases not timed" in text and "could not run: synthetic failure" in text


def test_quick_run_says_how_to_get_scaling_and_skips_the_missing_tax(tmp_path):
    text = report(quick_results(tmp_path))
    assert "No full-profile rows; run `pytest bench/ --benchmark-only --profile full`." in text
    assert "No td_tax.csv in this directory" in text
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["keras-over-torch.png", "times-tensorflow-cpu-quick-t2-many_to_many.png"]
    # the README's answer leads: its figure, then its table, one column for the run's one slice
    answer = text.split("## Keras over PyTorch, each framework's default head (quick profile)\n\n")[1]
    assert answer.startswith("![Keras over PyTorch, default heads") and "](keras-over-torch.png)\n\n| topology |" in answer
    assert "## Parity: the largest difference of each check\n\nNo parity.csv in this directory." in text


def test_tax_alone_is_reported_with_notes_for_the_rest(tmp_path):
    write_csv(tmp_path / TD_TAX, synthetic_td_tax_rows(), TD_TAX_COLUMNS)
    text = report(tmp_path)
    assert "No benchmarks.csv in this directory" in text and "No environment.json" in text
    assert (tmp_path / "td_tax.png").exists()


def cluster_task(run_started, node, start, seconds, unit="many_to_many train cpu seed b1 [tensorflow t1]", code="new"):
    """A finished task's log row: submitted at 0, pytest for all but 0.5 s of it, back 0.1 s after its end."""
    return {**dict.fromkeys(CLUSTER_TASK_COLUMNS, ""), "run_started": run_started, "code": code, "node_id": node,
            "submitted": 0, "unit": unit, "keras_backend": "tensorflow", "threads": 1, "start": start,
            "end": start + seconds, "pytest_s": seconds - 0.5, "arrived": start + seconds + 0.1, "outcome": "ok"}


def test_cluster_runs_and_their_projection_come_from_the_task_log(tmp_path):
    quick_results(tmp_path)
    assert "## On a Ray cluster" not in report(tmp_path)  # no cluster run, no section
    infer, jit = "many_to_many infer cpu seed b1 [tensorflow t1]", "many_to_many train cpu seed b1 jit [tensorflow t1]"
    log = [cluster_task("2026-01-01T08:00:00", "a", 0, 100, code="old"),  # other code: a run, but not projected
           cluster_task("2026-01-01T10:00:00", "a", 0, 40), cluster_task("2026-01-01T10:00:00", "a", 40, 20, infer),
           cluster_task("2026-01-01T10:00:00", "a", 60, 10, jit),
           {**dict.fromkeys(CLUSTER_TASK_COLUMNS, ""), "run_started": "2026-01-01T10:00:00", "code": "new",
            "submitted": 0, "arrived": 65, "outcome": "not timed: node lost"},
           cluster_task("2026-01-02T09:00:00", "b", 5, 30)]  # the first unit again, resumed: its newest task counts
    (tmp_path / CLUSTER_TASKS).parent.mkdir()
    write_csv(tmp_path / CLUSTER_TASKS, log, CLUSTER_TASK_COLUMNS)
    section = report(tmp_path).split("## On a Ray cluster\n")[1].split("\n## ")[0]
    # each run; the one of 10:00 finished 3 of 4 tasks, 70.1 s from submission to the last arrival, 70 s of slots
    assert "| 2026-01-01T08:00:00 | 1 | 1 of 1 | 100 s | 100 s | 100 s | 0.50 s | 0.10 s |" in section
    assert "| 2026-01-01T10:00:00 | 1 | 3 of 4 | 70 s | 70 s | 40 s | 0.50 s | 0.10 s |" in section
    assert "| 2026-01-02T09:00:00 | 1 | 1 of 1 | 35 s | 30 s | 30 s | 5.50 s | 0.10 s |" in section
    # the newest code's units, the newest task of each: 30 + 20 s compile off, 10 s on
    assert "Every unit code new finished here (3, the newest task of each, from 2 run(s))" in section
    assert "| tensorflow | off | 1 | 2 | 50 s | 30 s |" in section and "| tensorflow | on | 1 | 1 | 10 s | 10 s |" in section
    # on paper: 60 s on one node; from 4 nodes on, floored by the longest task (30 s), greedy at most 15 + 0.75 * 30
    assert "| 1 | 3 | 60 s | 60 s | total / nodes |" in section and "| 4 | 3 | 30 s | 38 s | the longest task |" in section


def test_bad_results_dir_is_one_line_and_status_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    quick_results(tmp_path / "broken", topologies=("one_to_one",))
    broken = tmp_path / "broken" / FILES["benchmarks"]
    with open(broken, newline="") as f:
        first_median = next(csv.DictReader(f))["median_s"]  # as the file spells it, on line 2
    broken.write_text(broken.read_text().replace(first_median, "fast", 1))
    for name, message in [
        ("missing", "missing: no such directory"),
        ("empty", "empty: no benchmarks.csv or td_tax.csv to report on"),
        ("broken", "benchmarks.csv: line 2, column median_s: 'fast' is not a number"),
    ]:
        assert main(["report", "--results-dir", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1


def test_reporting_imports_no_ml_framework():
    code = (
        "import sys, bench.cli, bench.commands.report, bench.commands.compare, bench.analysis.scaling; "
        "print(sorted({'keras', 'tensorflow', 'torch', 'jax'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
