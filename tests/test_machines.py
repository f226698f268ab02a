"""One result set per machine: names from fingerprints, which set a command uses, a run on another machine."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import main
from bench.store import layout, machine
from bench.store.files import json_text

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / layout.RESULTS_ROOT
# A machine no real one can be (machine.TEST_CPU_PREFIX), with the override only tests may use.
OTHER = {"cpu": "Test CPU 9000", "cores": 2, "memory_gib": 24, "gpu": "none"}
ONE_PAIR = "one_to_one and infer and seed and cpu and not onnxruntime"


def digests(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


REFERENCE = layout.reference_name(RESULTS)  # the committed reference set's machine, copied by these tests


@pytest.fixture
def other_machine(monkeypatch):
    monkeypatch.setenv(machine.TEST_MACHINE_VARIABLE, json.dumps(OTHER))
    return OTHER


def test_names_are_short_and_readable():
    assert machine.machine_name({"cpu": "Intel(R) Xeon(R) Processor", "cores": 2, "memory_gib": 24, "gpu": "none"}) \
        == "intel-xeon-2c-24g"
    assert machine.machine_name({"cpu": "AMD EPYC", "cores": 2, "memory_gib": 24, "gpu": "none"}) == "amd-epyc-2c-24g"
    assert machine.machine_name({"cpu": "Intel(R) Xeon(R) CPU @ 2.20GHz", "cores": 16, "memory_gib": 126,
                                 "gpu": "NVIDIA H200"}) == "nvidia-h200-16c-126g"


def test_two_fingerprints_never_share_a_directory(tmp_path):
    first = {"cpu": "AMD EPYC 7B13 64-Core Processor", "cores": 2, "memory_gib": 24, "gpu": "none"}
    second = {**first, "cpu": "AMD EPYC 7B13 64-Core Processor (rev 2)"}  # the same first words
    assert machine.machine_name(first) == machine.machine_name(second)
    a = layout.claim_machine_dir(layout.machine_dir(tmp_path, first), first)
    b = layout.claim_machine_dir(layout.machine_dir(tmp_path, second), second)
    assert a != b and b.name == machine.name_with_digest(second)
    assert layout.machine_dir(tmp_path, first) == a and layout.machine_dir(tmp_path, second) == b


def test_the_test_override_is_refused_for_a_real_looking_machine(monkeypatch):
    monkeypatch.setenv(machine.TEST_MACHINE_VARIABLE, json.dumps({**OTHER, "cpu": "Intel(R) Xeon(R) Processor"}))
    with pytest.raises(machine.OtherMachine, match="cpu starting with 'Test '"):
        machine.fingerprint()


def test_the_test_override_is_refused_outside_pytest():
    env = dict(os.environ, **{machine.TEST_MACHINE_VARIABLE: json.dumps(OTHER)})
    done = subprocess.run([sys.executable, "-m", "bench", "run", "--backends", "tensorflow", "--results-dir", "x"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "TDBENCH_TEST_MACHINE is for tdbench's own tests" in done.stderr


def make_root(tmp_path: Path) -> Path:
    """A results root like the committed one: a reference set and a shared params.csv."""
    root = tmp_path / "results"
    shutil.copytree(layout.reference_dir(RESULTS), root / REFERENCE)
    (root / layout.REFERENCE_FILE).write_text(json_text({"machine": REFERENCE}))
    return root


def test_a_reader_uses_this_machines_set_else_the_reference_and_says_which(tmp_path, other_machine):
    root = make_root(tmp_path)
    chosen = layout.set_to_read(root=root)
    assert chosen.directory == root / REFERENCE and "reference machine's" in chosen.note
    mine = layout.set_to_write(root=root).directory
    assert mine.name == "test-9000-2c-24g" and (mine / layout.MACHINE_FILE).is_file()
    shutil.copy(root / REFERENCE / "comparison.csv", mine)
    chosen = layout.set_to_read(root=root)
    assert chosen.directory == mine and "this machine's" in chosen.note
    assert layout.set_to_read(machine=REFERENCE, root=root).directory == root / REFERENCE


@pytest.mark.parametrize("command", [["table"], ["report"], ["compare", "nowhere-2c-1g", REFERENCE]])
def test_an_unknown_machine_is_one_line_listing_those_there_are(command, capsys):
    args = [*command, "--machine", "nowhere-2c-1g"] if command[0] != "compare" else command
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nowhere-2c-1g" in err
    assert all(name in err for name in layout.machine_dirs(RESULTS))


def test_a_flat_root_is_read_with_a_notice_and_migrate_moves_it(tmp_path, capsys, monkeypatch):
    root = tmp_path / "results"
    shutil.copytree(layout.reference_dir(RESULTS), root)
    (root / layout.MACHINE_FILE).unlink()
    shutil.copy(RESULTS / "params.csv", root / "params.csv")
    chosen = layout.set_to_read(root=root)
    assert chosen.directory == root and "python -m bench migrate" in chosen.note
    before = digests(root)
    assert main(["migrate", "--results-root", str(root)]) == 0
    moved = root / REFERENCE
    assert digests(moved) == {k: v for k, v in before.items() if k != "params.csv"} | {
        layout.MACHINE_FILE: hashlib.sha256((moved / layout.MACHINE_FILE).read_bytes()).hexdigest()}
    assert (root / "params.csv").is_file() and layout.reference_name(root) == REFERENCE
    assert main(["migrate", "--results-root", str(root)]) == 2  # nothing flat left


def test_compare_across_machines_judges_ratios_only(tmp_path, capsys):
    root = make_root(tmp_path)
    other = root / "test-9000-2c-24g"
    shutil.copytree(root / REFERENCE, other)
    env = json.loads((other / "environment.json").read_text())
    for entry in env["slices"].values():
        entry["machine"] = OTHER
    (other / "environment.json").write_text(json_text(env))
    (other / layout.MACHINE_FILE).write_text(json_text({"name": other.name, "fingerprint": OTHER}))
    status = main(["compare", str(root / REFERENCE), str(other)])
    out = capsys.readouterr().out
    old = machine.describe(json.loads((root / REFERENCE / layout.MACHINE_FILE).read_text())["fingerprint"])
    assert out.startswith(f"different machines: OLD {old}, NEW Test CPU 9000")
    assert "times not judged (different machines); 0 Keras/torch ratio(s) changed" in out
    assert status == 0


@pytest.mark.slow
def test_a_timed_run_on_another_machine_lands_in_its_own_directory(tmp_path):
    """The suite, timed (seed size, one pair), under a fingerprint that differs from the committed one."""
    repo = tmp_path / "repo"
    for name in ("bench", "impls", "pyproject.toml"):
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, repo / name, **({"ignore": shutil.ignore_patterns("__pycache__")} if copy is shutil.copytree else {}))
    shutil.copytree(RESULTS, repo / "results")
    before = digests(repo / "results")
    # Keras on torch: where the rows land is what is checked, and such a process does not load TensorFlow
    env = dict(os.environ, **{machine.TEST_MACHINE_VARIABLE: json.dumps(OTHER)}, KERAS_BACKEND="torch")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "bench/", "-p", "no:cacheprovider", "--benchmark-only", "-k", ONE_PAIR,
         "--blocks", "2", "--benchmark-max-time=0.02", "--benchmark-min-rounds=2"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    mine = repo / "results" / "test-9000-2c-24g"
    assert "tdbench: writing" in done.stdout and f"merged 2 rows into {mine}/" in done.stdout
    rows = (mine / "benchmarks.csv").read_text().splitlines()
    assert len(rows) == 3 and all(",ok," in r for r in rows[1:])
    assert json.loads((mine / layout.MACHINE_FILE).read_text())["fingerprint"] == OTHER
    after = digests(repo / "results")
    assert {k: v for k, v in after.items() if k in before} == before  # every committed file byte-identical
    assert all(k.startswith("test-9000-2c-24g/") for k in after.keys() - before.keys())
