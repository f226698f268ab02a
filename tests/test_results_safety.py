"""Results are never lost: partial runs merge by case, bad files stop a run before it starts,
a run's files are replaced as one set, permissions are kept, misuse is one line and exit 2."""

import csv
import io
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench.store import files, storage
from bench.cli import main
from bench.store import layout
from bench.store.machine import fingerprint, same_machine, slice_machine
from bench.store.schema import BENCHMARK_COLUMNS, FILES
from bench.store.results import merge_rows
from bench.analysis.save import save_run
from bench.store.validate import ResultsError, check_csv, check_results_dir
from impls import ModelSpec
from impls.spec import MAX_ARRAY_VALUES, MAX_PARAMETERS, MAX_SIZES
from tests.helpers import benchmark_row, interrupt_bench_run, raw_entry

ROOT = Path(__file__).resolve().parents[1]
RAW_FILE = "raw/tensorflow-cpu-quick-off-t1.json"
COMMITTED = layout.reference_dir(ROOT / layout.RESULTS_ROOT)  # the committed reference set


def row(framework="keras", head="timedistributed", median=0.002, status="ok", **extra):
    return benchmark_row(framework, head, median, status=status, **extra)


def snapshot(directory: Path) -> dict:
    """Every result file under `directory` (raw/ included, `bench run`'s logs/ not), by relative path."""
    files = {p.relative_to(directory).as_posix(): p for p in sorted(directory.rglob("*")) if p.is_file()}
    return {name: p.read_bytes() for name, p in files.items() if not name.startswith("logs/")}


@pytest.fixture(scope="module")
def committed_copy(tmp_path_factory):
    """The committed result set, copied and rewritten once per module (save_run's intervals take seconds)."""
    target = tmp_path_factory.mktemp("committed") / "results"
    target.mkdir()
    for name in [*FILES.values(), "noise.json"]:  # noise.json and raw/: what the intervals are computed from
        if (COMMITTED / name).exists():  # onnx.csv and td_tax.csv exist only once such cases ran
            shutil.copy(COMMITTED / name, target / name)
    if (COMMITTED / "raw").is_dir():
        shutil.copytree(COMMITTED / "raw", target / "raw")
    save_run(target, [], {})  # in today's columns, should columns have been added since the reference run
    return target


@pytest.fixture(scope="module")
def prepared_set(tmp_path_factory, committed_copy):
    """The copy re-labelled as measured on this machine: a run over it must not be refused because the
    reference run came from another CPU (bench/store/machine.py; that refusal is tested elsewhere)."""
    target = Path(shutil.copytree(committed_copy, tmp_path_factory.mktemp("relabelled") / "results"))
    env, here = json.loads((target / "environment.json").read_text()), fingerprint()
    other = [e for e in env["slices"].values() if not same_machine(slice_machine(e) or here, here)]
    for slice_environment in other:
        slice_environment.update({k: here[k] for k in ("cpu", "cores")}, machine=here)
    if other:
        (target / "environment.json").write_text(files.json_text(env))
    return target


@pytest.fixture
def full_set(tmp_path, prepared_set):
    """A fresh copy of the committed result set for one test (never the committed files themselves)."""
    return Path(shutil.copytree(prepared_set, tmp_path / "results"))


# 1. A run replaces only the rows of the cases it measured.

def test_merge_replaces_measured_cases_in_place_and_keeps_failed_cases_old_rows():
    old = [row(median=1.0), row("torch", "broadcast", median=2.0), row(head="dense3d", median=3.0)]
    new = [
        row("torch", "broadcast", median=0.5),  # measured again: replaced where it was
        row(head="dense3d", status="could not run: X", median=None),  # failed: the old row stays
        row(units=128, median=4.0),  # a new case: appended
    ]
    merged = merge_rows(old, new)
    assert [r["median_s"] for r in merged] == [1.0, 0.5, 3.0, 4.0]
    assert merge_rows([row(status="could not run: X", median=None)], [row(status="could not run: Y", median=None)])[0]["status"] == "could not run: Y"


def test_the_committed_results_validate_and_rewrite_byte_for_byte(tmp_path, committed_copy):
    # Not re-labelled: what is compared with the committed files is what was committed, on any machine.
    full_set = Path(shutil.copytree(committed_copy, tmp_path / "results"))
    check_results_dir(COMMITTED)  # read only; the committed set must stay valid under these checks
    committed, copied = (list(csv.DictReader(io.StringIO((d / "benchmarks.csv").read_text()))) for d in (COMMITTED, full_set))
    # every committed value kept as written, in order; columns added since the reference run blank
    assert copied == [{c: r.get(c, "") for c in BENCHMARK_COLUMNS} for r in committed]
    if (COMMITTED / "benchmarks.csv").read_text().split("\n", 1)[0] == ",".join(BENCHMARK_COLUMNS):
        assert snapshot(full_set) == {n: (COMMITTED / n).read_bytes() for n in snapshot(full_set)}
    before = snapshot(full_set)
    save_run(full_set, [], {})
    assert snapshot(full_set) == before


@pytest.mark.slow
def test_a_partial_k_run_keeps_every_other_row_byte_for_byte(full_set):
    case = "one_to_one-torch-infer-cpu-seed"
    old_lines = (full_set / "benchmarks.csv").read_text().splitlines()
    old_comparison = (full_set / "comparison.csv").read_text().splitlines()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "bench/", "-p", "no:cacheprovider", "--benchmark-only", "--profile", "quick",
         "--keras-backend", "tensorflow", "--compile", "off", "-k", case, "--blocks", "2", "--benchmark-max-time=0.02",
         "--benchmark-min-rounds=3", "--results-dir", str(full_set)],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    new_lines = (full_set / "benchmarks.csv").read_text().splitlines()
    changed = [i for i, (a, b) in enumerate(zip(old_lines, new_lines)) if a != b]
    assert len(new_lines) == len(old_lines) and len(changed) == 1
    assert new_lines[changed[0]].startswith("one_to_one,torch,torch,tensorflow,n/a,off,eager,infer,cpu,quick,seed,")
    assert len((full_set / "comparison.csv").read_text().splitlines()) == len(old_comparison)


# 2. Existing files are checked before anything is timed.

def cut(text: str) -> str:
    return text[: len(text) // 2]


def drop_a_field(text: str) -> str:
    lines = text.splitlines(keepends=True)
    lines[2] = lines[2].replace(",", "", 1)
    return "".join(lines)


def not_a_number(text: str) -> str:
    lines = text.splitlines(keepends=True)
    cells = lines[1].split(",")
    cells[BENCHMARK_COLUMNS.index("median_s")] = "fast"
    lines[1] = ",".join(cells)
    return "".join(lines)


def median_cell(value: str):
    def put(text: str) -> str:
        lines = text.splitlines(keepends=True)
        cells = lines[1].split(",")
        cells[BENCHMARK_COLUMNS.index("median_s")] = value
        lines[1] = ",".join(cells)
        return "".join(lines)

    return put


def repeat_a_row(text: str) -> str:
    lines = text.splitlines(keepends=True)
    return "".join([*lines, lines[1]])


MALFORMED = {
    "truncated": ("benchmarks.csv", cut, "ends without a newline; the file was cut short"),
    "a row short of a field": ("benchmarks.csv", drop_a_field, f"line 3: {len(BENCHMARK_COLUMNS) - 1} field(s), the header has {len(BENCHMARK_COLUMNS)}"),
    "no header": ("benchmarks.csv", lambda t: t.split("\n", 1)[1], "line 1: the header lacks column(s) topology"),
    "binary": ("benchmarks.csv", lambda t: "\0\1\2" + t, "binary data"),
    "not UTF-8": ("benchmarks.csv", lambda t: t + "\udcff\n", "not UTF-8 text"),
    "not a number": ("benchmarks.csv", not_a_number, "line 2, column median_s: 'fast' is not a number"),
    "a case twice": ("benchmarks.csv", repeat_a_row, "the same case as line 2"),
    "empty": ("benchmarks.csv", lambda t: "", "empty file"),
    "comparison cut short": ("comparison.csv", cut, "ends without a newline"),
    "environment cut short": ("environment.json", cut, "not valid JSON"),
    "environment a list": ("environment.json", lambda t: "[]\n", "expected an object with a 'slices' object, found list"),
    "environment slice not an object": ("environment.json", lambda t: '{"slices": {"a": 1}}\n', "slices['a'] is a int"),
    "a median NaN": ("benchmarks.csv", median_cell("nan"), "line 2, column median_s: 'nan' is not a finite number of at least 0"),
    "a median inf": ("benchmarks.csv", median_cell("inf"), "line 2, column median_s: 'inf' is not a finite number"),
    "a negative median": ("benchmarks.csv", median_cell("-0.5"), "line 2, column median_s: '-0.5' is not a finite number of at least 0"),
    "noise.json cut short": ("noise.json", cut, "noise.json: not valid JSON"),
    "noise.json a negative variance": ("noise.json", lambda t: '{"ratio_run_var": -1, "time_run_var": 0}\n', "ratio_run_var must be a non-negative number"),
    "a raw file cut short": (RAW_FILE, cut, "not a readable raw-timings file"),
    "a raw file without benchmarks": (RAW_FILE, lambda t: "{}\n", "not a raw-timings file (no 'benchmarks' list)"),
}


def spoil(directory: Path, name: str, how) -> None:
    path = directory / name
    path.write_bytes(how(path.read_text()).encode("utf-8", "surrogateescape"))


@pytest.mark.parametrize("name, how, message", MALFORMED.values(), ids=MALFORMED.keys())
def test_each_malformation_is_one_line_naming_file_and_line_and_leaves_files_untouched(full_set, capsys, name, how, message):
    spoil(full_set, name, how)
    before = snapshot(full_set)
    with pytest.raises(ResultsError, match=f"{name}: .*") as error:
        check_results_dir(full_set, writing=True)
    assert message in str(error.value) and "\n" not in str(error.value)
    for argv in (["report", "--results-dir", str(full_set)], ["table", "--results-dir", str(full_set)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1
    with pytest.raises(ResultsError, match=re.escape(message)):
        save_run(full_set, [row()], {})
    assert snapshot(full_set) == before


def test_compare_refuses_a_file_cut_short(full_set, tmp_path, capsys):
    spoil(full_set, "benchmarks.csv", cut)
    assert main(["compare", str(COMMITTED), str(full_set)]) == 2
    assert "benchmarks.csv: line" in capsys.readouterr().err


def test_unknown_columns_would_be_dropped_so_a_run_refuses_them(tmp_path):
    path = tmp_path / "benchmarks.csv"
    path.write_text(",".join([*BENCHMARK_COLUMNS, "mystery"]) + "\n")
    check_csv(path, "benchmarks")  # reading is fine
    with pytest.raises(ResultsError, match="unknown column.*mystery"):
        check_csv(path, "benchmarks", writing=True)


def test_an_older_file_without_an_optional_column_validates_and_reads_it_as_empty(tmp_path):
    columns = [c for c in BENCHMARK_COLUMNS if c != "kernel"]
    files.write_csv(tmp_path / "benchmarks.csv", [row()], columns)
    (read,) = check_csv(tmp_path / "benchmarks.csv", "benchmarks", writing=True)
    assert read["kernel"] == "" and list(read) == BENCHMARK_COLUMNS
    save_run(tmp_path, [row(units=128)], {})
    assert len(check_csv(tmp_path / "benchmarks.csv", "benchmarks")) == 2


@pytest.mark.parametrize("name, how, message", [MALFORMED[k] for k in (
    "truncated", "no header", "environment a list", "noise.json cut short", "a raw file cut short", "a median NaN")])
def test_the_suite_stops_before_timing_with_one_line_and_exit_2(full_set, name, how, message):
    spoil(full_set, name, how)
    before = snapshot(full_set)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "bench/", "-p", "no:cacheprovider", "--benchmark-only", "--profile", "seed",
         "--results-dir", str(full_set)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert done.returncode == 2
    assert message in done.stderr and len((done.stdout + done.stderr).strip().splitlines()) == 1
    assert snapshot(full_set) == before


def test_bench_run_checks_before_starting_a_backend(full_set, capsys):
    spoil(full_set, "benchmarks.csv", cut)
    assert main(["run", "--backends", "torch", "--results-dir", str(full_set)]) == 2
    err = capsys.readouterr().err
    assert "cut short" in err and len(err.strip().splitlines()) == 1
    assert not (full_set / "logs").exists()


def test_an_unusable_results_dir_is_refused_before_timing(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    with pytest.raises(ResultsError, match="is not a directory"):
        check_results_dir(tmp_path / "file" / "results", writing=True)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    if os.geteuid() == 0:  # root writes anywhere: refuse the write probe as the kernel refuses a user
        def refused(**kwargs):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr("bench.store.validate.tempfile", SimpleNamespace(TemporaryFile=refused))
    with pytest.raises(ResultsError, match=r"locked: results directory is not writable \(Permission denied\)$"):
        check_results_dir(locked, writing=True)
    monkeypatch.undo()
    (tmp_path / "set" / "raw").mkdir(parents=True)
    real = tempfile.TemporaryFile

    def refused_in_raw(dir=None, **kwargs):  # raw/ alone read-only, as chmod 555 does for a user
        if Path(dir).name == "raw":
            raise PermissionError(13, "Permission denied")
        return real(dir=dir, **kwargs)

    monkeypatch.setattr("bench.store.validate.tempfile", SimpleNamespace(TemporaryFile=refused_in_raw))
    with pytest.raises(ResultsError, match=r"set/raw: results directory is not writable \(Permission denied\)$"):
        check_results_dir(tmp_path / "set", writing=True)


# 3. A result set is written as one unit.

def test_a_failure_while_staging_a_later_file_leaves_the_whole_old_set(full_set, monkeypatch):
    before = snapshot(full_set)
    real = storage._write_temp

    def fail_on_environment(path, text, suffix):
        if path.name == "environment.json":
            raise OSError(28, "No space left on device")
        return real(path, text, suffix)

    monkeypatch.setattr(storage, "_write_temp", fail_on_environment)
    with pytest.raises(OSError, match="No space left"):
        save_run(full_set, [row()], {"new": True})
    assert snapshot(full_set) == before  # no new file, no staged file, no marker


KILL_AT = """
import os, sys
from bench.store import storage
from bench.analysis.save import save_run
from tests.test_results_safety import row
from tests.helpers import raw_entry
point, arg = sys.argv[2].split(":")
renames = [0]
real_replace, real_write, real_sync = os.replace, storage._write_temp, storage._sync_directory
def replace(src, dst):
    if str(src).endswith(storage.STAGED_SUFFIX):
        if point == "rename" and renames[0] == int(arg):
            os._exit(9)  # killed between two files of the set (the first is raw/'s)
        renames[0] += 1
    real_replace(src, dst)
def write(path, text, suffix):
    if point == "stage" and path.name == arg:
        os._exit(9)  # killed while staging, before the commit marker
    return real_write(path, text, suffix)
def sync(directory):
    if point == "sync":
        os._exit(9)  # every file renamed, the marker not yet removed
    real_sync(directory)
storage.os.replace, storage._write_temp, storage._sync_directory = replace, write, sync
save_run(sys.argv[1], [row(median=0.123)], {"new": True}, [raw_entry(0.123)])
"""
KILL_POINTS = ["stage:tensorflow-cpu-quick-off-t1.json", "stage:environment.json", "rename:0", "rename:1", "rename:2",
               "rename:4", "sync:0"]


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", KILL_POINTS)
def test_a_process_killed_between_files_leaves_all_old_or_all_new(full_set, kill_at):
    before = snapshot(full_set)
    done = subprocess.run([sys.executable, "-c", KILL_AT, str(full_set), kill_at],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 9, done.stderr
    check_results_dir(full_set)  # every reader recovers first
    after = snapshot(full_set)
    assert set(after) == set(before)  # no marker, no staged file, no lock holder's note
    changed = {name for name in before if after[name] != before[name]}
    if kill_at.startswith("stage"):
        assert changed == set()
    else:  # committed: every file of the set is the new one, raw rounds included
        rows_and_rounds = {"benchmarks.csv", "comparison.csv", "environment.json", RAW_FILE}
        derived = {"onnx.csv", "td_tax.csv"}  # rewritten with the rows where the new row changes them (sets differ)
        assert rows_and_rounds <= changed <= rows_and_rounds | derived
        assert json.loads(after["environment.json"])["slices"]["keras_backend=tensorflow device=cpu profile=quick compile=off threads=1"] == {"new": True}
        assert b"0.123" in after["benchmarks.csv"] and b"0.123" in after[RAW_FILE]


def test_a_corrupt_noise_json_stops_the_save_before_any_file_is_written(full_set):
    (full_set / "noise.json").write_text('{"ratio_run_var": "NaN"')
    before = snapshot(full_set)
    with pytest.raises(ResultsError, match="noise.json: not valid JSON"):
        save_run(full_set, [row(median=0.123)], {"new": True}, [raw_entry(0.123)])
    assert snapshot(full_set) == before


# 4. Written files keep the permissions of the file they replace.

@pytest.mark.parametrize("mode", [0o644, 0o640, 0o664])
def test_a_replaced_file_keeps_its_permissions(tmp_path, mode):
    save_run(tmp_path, [row()], {})
    for name in ("benchmarks.csv", "environment.json"):
        os.chmod(tmp_path / name, mode)
    save_run(tmp_path, [row(units=128)], {})
    storage.atomic_write_text(tmp_path / "benchmarks.csv", (tmp_path / "benchmarks.csv").read_text())
    for name in ("benchmarks.csv", "environment.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode


def test_a_new_file_gets_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        storage.atomic_write_text(tmp_path / "a.txt", "x")
        save_run(tmp_path / "set", [row()], {})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "set" / "comparison.csv").stat().st_mode) == 0o640


# 5. Sizes have limits.

@pytest.mark.parametrize("field", list(MAX_SIZES))
def test_each_size_has_a_limit_named_in_one_line(field):
    topology = "attention" if field in ("vocab_size", "embedding_dim", "dense_units") else "many_to_many"
    with pytest.raises(ValueError, match=f"^{field} must be at most {MAX_SIZES[field]} .*got {MAX_SIZES[field] + 1}$"):
        ModelSpec(topology, **{field: MAX_SIZES[field] + 1})


def test_the_parameter_count_has_a_limit():
    with pytest.raises(ValueError, match=f"give .* parameters; the limit is {MAX_PARAMETERS}"):
        ModelSpec("attention", vocab_size=1_000_000, embedding_dim=4096)


def test_large_outputs_make_one_hot_targets_without_an_identity_matrix():
    spec = ModelSpec("attention", timesteps=3, outputs=100_000)
    targets = spec.example_targets(batch=2, seed=1)
    assert targets.shape == (2, 3, 100_000) and targets.dtype.name == "float32"
    assert (targets.sum(axis=-1) == 1).all() and targets.max() == 1
    with pytest.raises(ValueError, match=f"batch=1000 makes an array .* over {MAX_ARRAY_VALUES} values"):
        spec.example_targets(batch=1000)


def test_params_with_huge_units_is_one_line_and_exit_2(capsys):
    assert main(["params", "--topology", "many_to_many", "--units", "50000"]) == 2
    assert capsys.readouterr().err.strip() == (
        "python -m bench params: error: many_to_many: units must be at most 4096 (impls.spec.MAX_SIZES), got 50000"
    )


# 6. The smaller ones: one line, exit 2, no traceback.

def test_misuse_is_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "D").mkdir()
    shutil.copy(COMMITTED / "benchmarks.csv", tmp_path / "D" / "benchmarks.csv")
    cases = {
        ("params", "--threads", "10000"): "--threads must be at most",
        ("table", "--readme", str(tmp_path / "nonexistent")): "no such file",
        ("params", "--topology", "one_to_one", "--out", str(tmp_path)): "is a directory; give a file name",
        ("compare", str(COMMITTED), str(tmp_path / "D"), "--threshold", "-5%"): "non-negative",
        ("compare", str(COMMITTED), str(tmp_path / "D"), "--threshold", "inf"): "finite",
        ("compare", str(tmp_path / "D"), str(tmp_path / "D")): "OLD and NEW are the same file",
    }
    for argv, message in cases.items():
        assert main(list(argv)) == 2, argv
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, (argv, err)


def test_keras_backend_bogus_is_one_line_and_exit_2(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "bench/", "-p", "no:cacheprovider", "--benchmark-only",
         "--results-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=dict(os.environ, KERAS_BACKEND="bogus"),
    )
    assert done.returncode == 2
    assert (done.stdout + done.stderr).strip() == (
        "Exit: tdbench: KERAS_BACKEND must be one of tensorflow, jax, torch; got 'bogus'"
    )


@pytest.mark.slow
def test_ctrl_c_during_bench_run_is_one_line_exit_2_and_stops_pytest(full_set):
    before = snapshot(full_set)
    rc, said, _ = interrupt_bench_run(full_set, signal.SIGINT, ROOT)
    assert rc == 2
    assert said == [said[0]] and said[0].startswith("interrupted: the backend running saved nothing")
    assert snapshot(full_set) == before
