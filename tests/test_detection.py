"""`python -m bench detection`: compare's own test on clean runs against runs with extra work, on synthetic runs."""

import re

import numpy as np
import pytest

from bench.analysis import generated_text, result_tables
from bench.cli import main
from bench.analysis import change_tests
from bench.commands import detection
from bench.store import noise, raw
from bench.store.files import read_csv, write_csv, write_json
from bench.store.schema import BENCHMARK_COLUMNS, MEASUREMENT_METHOD
from tests.helpers import benchmark_row

POOLED_SET = "2026-11-28T09:00:00+00:00 .. 2026-11-28T09:10:00+00:00"  # the noise model's set
KERAS_S, TORCH_S = 0.004, 0.002


def write_run(directory, torch_scale=1.0, seed=0, date="2026-11-29T10:00:00+00:00", extra_work=None):
    """A run of two Keras/torch pairs (train and infer), 50 rounds each with 2% noise; torch's times scaled
    by `torch_scale`; environment.json records `date` and `extra_work` as the suite does."""
    rng = np.random.default_rng(seed)
    rows = [benchmark_row(framework, head, median, mode=mode, iqr_s=median * 0.05, rounds=50)
            for mode in ("train", "infer")
            for framework, head, median in (("keras", "timedistributed", KERAS_S), ("torch", "broadcast", TORCH_S * torch_scale))]
    write_csv(directory / "benchmarks.csv", rows, BENCHMARK_COLUMNS)
    raw.save(directory, [raw.entry(f"{r['framework']}-{r['mode']}", "g", r, {},
                                   {"data": list(r["median_s"] * np.exp(rng.normal(0, 0.02, 50)))}) for r in rows], {})
    env = {"date": date, "code": "abc1234", "threads": 1, "blocks": 5, "method": MEASUREMENT_METHOD,
           **({"extra_work": extra_work} if extra_work else {})}
    write_json(directory / "environment.json",
               {"slices": {"keras_backend=tensorflow device=cpu profile=quick compile=off threads=1": env}})
    return directory


def write_noise(directory, run_dirs=(), pooled_sets=(POOLED_SET,)):
    noise.save(directory, {"ratio_run_var": 0.02 ** 2, "time_run_var": 0.03 ** 2, "run_dirs": [str(d) for d in run_dirs],
                           "pooled_sets": list(pooled_sets), "runs_taken": pooled_sets[-1] if pooled_sets else ""})
    return directory


@pytest.fixture
def runs(tmp_path):
    clean = write_run(tmp_path / "clean", seed=1)
    slowed = write_run(tmp_path / "slowed", torch_scale=1.2, seed=2, date="2026-11-29T10:05:00+00:00",
                       extra_work="torch=0.2")
    return clean, slowed, write_noise(tmp_path / "noise")


def detect(tmp_path, clean, slowed, noise_dir, *extra):
    return main(["detection", "--clean", str(clean), "--slowed", str(slowed), "--noise-from", str(noise_dir),
                 "--results-dir", str(tmp_path / "results"), *extra])


def test_a_run_with_20_percent_more_torch_work_is_flagged_and_its_shift_measured(tmp_path, runs, capsys):
    clean, slowed, noise_dir = runs
    assert detect(tmp_path, clean, slowed, noise_dir, "--thresholds", "0,10%,30%") == 0
    rows = read_csv(tmp_path / "results" / "detection.csv")
    assert [r["threshold"] for r in rows] == ["0.0", "0.1", "0.3"]
    at_zero, at_ten, at_thirty = rows
    assert (at_zero["extra_work"], at_zero["framework"], float(at_zero["fraction"])) == ("torch=0.2", "torch", 0.2)
    assert (at_zero["ratios_tested"], at_zero["ratios_flagged"], at_zero["ratios_flagged_other_way"]) == ("2", "2", "0")
    assert (at_zero["cases_tested"], at_zero["cases_flagged_slower"], at_zero["other_cases_flagged"]) == ("2", "2", "0")
    assert at_ten["ratios_flagged"] == "2"  # 1/1.2 is 17% lower: beyond 10%
    assert at_thirty["ratios_flagged"] == "0"  # and within 30%
    assert float(at_zero["shift"]) == pytest.approx(1 / 1.2 - 1, abs=0.02)
    assert float(at_zero["expected_shift"]) == pytest.approx(1 / 1.2 - 1)
    assert at_zero["held_out"] == "True" and at_zero["noise_sets"] == POOLED_SET
    assert at_zero["slowed_code"] == "abc1234" and at_zero["clean_taken"].startswith("2026-11-29T10:00")
    assert at_zero["noise_source"] == str(noise_dir / "noise.json")
    out = capsys.readouterr().out
    assert "2 of 2 (100%)" in out and "held out" in out and "wrote detection.csv" in out


def test_its_counts_are_compare_s_own_verdicts(tmp_path, runs, capsys):
    clean, slowed, noise_dir = runs
    assert detect(tmp_path, clean, slowed, noise_dir, "--thresholds", "10%") == 0
    (row,) = read_csv(tmp_path / "results" / "detection.csv")
    capsys.readouterr()
    assert main(["compare", str(clean), str(slowed), "--threshold", "10%", "--noise", str(noise_dir)]) == 1
    said = re.search(r"(\d+) Keras/torch ratio\(s\) changed", capsys.readouterr().out)
    assert said and said.group(1) == row["ratios_flagged"]


def test_a_clean_run_against_a_clean_run_is_not_flagged(tmp_path):
    first, second = write_run(tmp_path / "a", seed=3), write_run(tmp_path / "b", seed=4)
    loaded = {d: change_tests.load(d) for d in (first, second)}
    model = {"ratio_run_var": 0.02 ** 2, "time_run_var": 0.03 ** 2}
    rows = detection.detection_rows(first, second, loaded, "torch", 0.2, model, [0.0, 0.02, 0.1])
    assert all(r["ratios_flagged"] == r["ratios_flagged_other_way"] == 0 for r in rows)
    assert all(r["cases_flagged_slower"] == r["other_cases_flagged"] == 0 for r in rows)
    assert abs(rows[0]["shift"]) < 0.02


def test_extra_work_in_keras_is_counted_as_a_higher_ratio(tmp_path):
    clean = write_run(tmp_path / "clean", seed=5)
    slowed = write_run(tmp_path / "slowed", torch_scale=1 / 1.2, seed=6)  # torch unchanged relative to keras x1.2
    loaded = {d: change_tests.load(d) for d in (clean, slowed)}
    model = {"ratio_run_var": 0.02 ** 2, "time_run_var": 0.03 ** 2}
    (row,) = detection.detection_rows(clean, slowed, loaded, "keras", 0.2, model, [0.0])
    assert row["ratios_flagged"] == 2 and row["expected_shift"] == pytest.approx(0.2)
    assert row["shift"] == pytest.approx(0.2, abs=0.03)


def test_the_noise_model_is_held_out_only_without_any_of_the_runs(tmp_path, runs):
    clean, slowed, _ = runs
    assert detection.held_out({"pooled_sets": [POOLED_SET]}, [clean, slowed])[0]
    inside = "2026-11-29T09:59:00+00:00 .. 2026-11-29T10:01:00+00:00"  # the clean run's date falls in it
    held, why = detection.held_out({"pooled_sets": [POOLED_SET, inside]}, [clean, slowed])
    assert not held and str(clean) in why and "in-sample" in why
    held, why = detection.held_out({"pooled_sets": [POOLED_SET], "run_dirs": [str(slowed)]}, [clean, slowed])
    assert not held and "fitted to" in why
    assert not detection.held_out({}, [clean, slowed])[0]  # a model that names no sets is not shown held out


@pytest.mark.parametrize("case, message", [
    ("slowed without extra work", "--slowed {other}: no extra work recorded (environment.json extra_work)"),
    ("clean with extra work", "--clean {slowed}: was timed with extra work (torch=0.2); give it as --slowed"),
    ("onnxruntime", "extra work in onnxruntime (onnxruntime=0.1) moves no Keras/torch ratio"),
    ("no noise model", "{results}/noise.json: no such file; give --noise-from DIR"),
    ("bad threshold", "argument --thresholds: must be a finite non-negative fraction"),
    ("no such run", "{tmp}/missing: no such directory"),
])
def test_wrong_inputs_are_one_line_and_status_2(tmp_path, runs, capsys, case, message):
    clean, slowed, noise_dir = runs
    results = tmp_path / "results"
    other = write_run(tmp_path / "other", seed=7)
    argv = {
        "slowed without extra work": ["--clean", clean, "--slowed", other, "--noise-from", noise_dir],
        "clean with extra work": ["--clean", slowed, "--slowed", slowed, "--noise-from", noise_dir],
        "onnxruntime": ["--clean", clean, "--slowed", write_run(tmp_path / "ort", extra_work="onnxruntime=0.1"),
                        "--noise-from", noise_dir],
        "no noise model": ["--clean", clean, "--slowed", slowed],
        "bad threshold": ["--clean", clean, "--slowed", slowed, "--thresholds", "0,-5%"],
        "no such run": ["--clean", tmp_path / "missing", "--slowed", slowed, "--noise-from", noise_dir],
    }[case]
    assert main(["detection", *map(str, argv), "--results-dir", str(results)]) == 2
    err = capsys.readouterr().err
    assert message.format(other=other, slowed=slowed, results=results, tmp=tmp_path) in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (results / "detection.csv").exists()


def test_the_readme_block_and_the_report_section_render_from_detection_csv(tmp_path, runs):
    clean, slowed, noise_dir = runs
    slower = write_run(tmp_path / "slowed-10", torch_scale=1.1, seed=8, date="2026-11-29T10:09:00+00:00",
                       extra_work="torch=0.1")
    assert main(["detection", "--clean", str(clean), "--slowed", str(slowed), str(slower), "--noise-from", str(noise_dir),
                 "--results-dir", str(tmp_path / "results"), "--thresholds", "0,0.3"]) == 0
    results = tmp_path / "results"
    blocks = result_tables.readme_blocks(results, "quick")
    assert list(blocks) == ["detection-summary"]  # the others' files are absent
    text = blocks["detection-summary"]
    lines = text.splitlines()
    assert len(lines) == 4  # the setting, one line per fraction of extra work, where the rest is
    assert "fitted without any of these runs" in lines[0] and "taken 2026-11-29 10:00-10:09 UTC, code abc1234" in lines[0]
    assert lines[1].startswith("- 10% more work in torch: Keras/torch moved -9.")
    assert lines[2].startswith("- 20% more work in torch: Keras/torch moved -1")
    assert lines[2].endswith("flagged lower at threshold 0% / 30%: 100% / 0% of the ratios.")
    readme = "intro\n<!-- detection-summary:start -->\nold\n<!-- detection-summary:end -->\nrest\n"
    assert result_tables.replace_block(readme, "detection-summary", text) == \
        f"intro\n<!-- detection-summary:start -->\n{text}<!-- detection-summary:end -->\nrest\n"
    report = "\n".join(result_tables.report_sections(results, "quick"))
    assert "## Detection: `bench compare` against real extra work" in report
    assert "| torch=0.2 | 2026-11-29 10:00" in report


def test_the_readme_block_says_an_in_sample_noise_model_is_not_held_out(tmp_path, runs):
    clean, slowed, _ = runs
    noise_dir = write_noise(tmp_path / "in-sample", pooled_sets=["2026-11-29T09:00:00+00:00 .. 2026-11-29T11:00:00+00:00"])
    assert detect(tmp_path, clean, slowed, noise_dir) == 0
    assert "in-sample, not held out" in generated_text.detection_summary(tmp_path / "results")
