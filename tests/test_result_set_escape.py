"""A result set that a crafted file cannot escape and two writers cannot corrupt (issue 29):
no path from file contents, no symbolic links, one writer at a time, raw rounds in the atomic set."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.cli import main
from bench.store import files, lock, raw, storage
from bench.store.schema import BENCHMARK_COLUMNS
from bench.analysis.save import save_run
from bench.store.validate import ResultsError, check_results_dir
from tests.helpers import interrupt_bench_run, raw_entry
from tests.test_results_safety import ROOT, row, snapshot


@pytest.fixture
def small_set(tmp_path):
    """A result set with a Keras and a torch row, their raw rounds, and a directory beside it."""
    directory = tmp_path / "set"
    save_run(directory, [row(), row("torch", "broadcast", median=0.001)], {"old": True}, [raw_entry(0.002)])
    (tmp_path / "outside").mkdir()
    return directory


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


# 1. No path from file contents.

@pytest.mark.parametrize("target", ["ABSOLUTE/pwned.txt", "../outside/pwned.txt", "raw/../../outside/pwned.txt"])
def test_a_crafted_commit_marker_moves_nothing_and_a_reader_exits_2_naming_it(small_set, capsys, target):
    outside = small_set.parent / "outside"
    target = target.replace("ABSOLUTE", str(outside))
    (small_set / "evil.txt").write_text("x\n")
    (small_set / storage.COMMIT_MARKER).write_text(json.dumps({target: "evil.txt"}))
    assert main(["table", "--results-dir", str(small_set)]) == 2
    assert storage.COMMIT_MARKER in one_line_error(capsys)
    assert list(outside.iterdir()) == [] and (small_set / "evil.txt").exists()


def test_a_marker_whose_staged_name_points_outside_is_refused(small_set):
    secret = small_set.parent / "outside" / "secret.csv"
    secret.write_text("keep me\n")
    (small_set / storage.COMMIT_MARKER).write_text(json.dumps({"benchmarks.csv": "../outside/secret.csv"}))
    with pytest.raises(ResultsError, match="is not a result file and its staged copy"):
        check_results_dir(small_set)
    assert secret.read_text() == "keep me\n"


def test_write_set_stages_only_the_sets_own_names(tmp_path):
    for name in ["../x.csv", "/tmp/x.csv", "notes.txt", "raw/../x.json", "raw/a/b.json"]:
        with pytest.raises(ResultsError, match="refused"):
            storage.write_set(tmp_path / "set", {name: "x"})
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "set" / "notes.txt").exists()


def test_a_topology_cell_with_dotdot_stops_report_naming_the_csv(small_set, capsys):
    evil = "x/../../outside/evil"
    text = (small_set / "benchmarks.csv").read_text().replace("many_to_many", evil)
    (small_set / "benchmarks.csv").write_text(text)
    # The directories such a name would pass through, so that a plot could land outside.
    (small_set / "times-tensorflow-cpu-quick-t1-x").mkdir()
    assert main(["report", "--results-dir", str(small_set)]) == 2
    err = one_line_error(capsys)
    assert "benchmarks.csv: line 2, column topology" in err and "not a plain name" in err
    assert list((small_set.parent / "outside").iterdir()) == []


def test_a_plot_name_that_would_leave_the_set_is_refused(tmp_path):
    from bench.commands.report import Figures

    with pytest.raises(ResultsError, match="not a plain file name"):
        Figures(tmp_path).add("times-x/../../evil.png", "t", lambda rows, title, path: path.write_text("x"), None)
    assert not (tmp_path.parent / "evil.png").exists()


def link_csv(directory: Path):
    outside = directory.parent / "outside" / "benchmarks.csv"
    (directory / "benchmarks.csv").rename(outside)
    (directory / "benchmarks.csv").symlink_to(outside)
    return directory / "benchmarks.csv"


def link_raw(directory: Path):
    outside = directory.parent / "outside" / "raw"
    (directory / "raw").rename(outside)
    (directory / "raw").symlink_to(outside)
    return directory / "raw"


def link_directory(directory: Path):
    link = directory.parent / "linked"
    link.symlink_to(directory)
    return link


@pytest.mark.parametrize("make_link", [link_csv, link_raw, link_directory])
def test_a_symbolic_link_in_a_set_is_refused_naming_it_and_nothing_is_written(small_set, capsys, make_link):
    link = make_link(small_set)
    results_dir = link if make_link is link_directory else small_set
    before = snapshot(small_set.parent)
    assert main(["table", "--results-dir", str(results_dir)]) == 2
    err = one_line_error(capsys)
    assert f"{link}: a symbolic link" in err
    with pytest.raises(ResultsError, match="a symbolic link"):
        save_run(results_dir, [row(median=0.5)], {}, [raw_entry(0.5)])
    assert snapshot(small_set.parent) == before


# 2. One writer at a time.

PAUSED_WRITER = """
import os, signal, sys
from bench.store import storage
from bench.analysis.save import save_run
from tests.test_results_safety import row
from tests.helpers import raw_entry
real = storage.atomic_write_text
def pause_at_the_marker(path, text):
    if path.name == storage.COMMIT_MARKER:  # every file staged, nothing committed: as paused by SIGSTOP
        os.kill(os.getpid(), signal.SIGSTOP)
    real(path, text)
storage.atomic_write_text = pause_at_the_marker
save_run(sys.argv[1], [row(units=128, median=0.123)], {"writer": "A"}, [raw_entry(0.123, units=128)])
print("A saved")
"""


def wait_until_stopped(pid: int, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T":
            return
        time.sleep(0.05)
    raise AssertionError("writer A never reached its commit")


@pytest.mark.slow
def test_a_second_writer_refuses_naming_the_paused_holder_and_no_row_is_lost(small_set, capsys):
    a = subprocess.Popen([sys.executable, "-c", PAUSED_WRITER, str(small_set)], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_stopped(a.pid)
        staged = sorted(p.name for p in small_set.rglob(f"*{storage.STAGED_SUFFIX}"))
        assert staged  # A's files, staged and waiting for its commit
        # B, the suite, refuses before it times anything, naming A.
        b = subprocess.run(
            [sys.executable, "-m", "pytest", "bench/", "-p", "no:cacheprovider", "--benchmark-only",
             "--profile", "seed", "--results-dir", str(small_set)],
            capture_output=True, text=True, timeout=120, cwd=ROOT,
        )
        assert b.returncode == 2
        assert f"another tdbench process is writing here (PID {a.pid}, started " in b.stderr
        assert len((b.stdout + b.stderr).strip().splitlines()) == 1
        # B, a direct save, refuses the same way; a reader reads the old set and leaves A's files alone.
        with pytest.raises(lock.Busy, match=f"PID {a.pid}"):
            save_run(small_set, [row(units=256, median=0.5)], {"writer": "B"})
        assert main(["table", "--results-dir", str(small_set)]) == 0
        capsys.readouterr()
        assert sorted(p.name for p in small_set.rglob(f"*{storage.STAGED_SUFFIX}")) == staged
    finally:
        a.send_signal(signal.SIGCONT)
    out, err = a.communicate(timeout=120)
    assert a.returncode == 0 and "A saved" in out, err
    save_run(small_set, [row(units=256, median=0.5)], {"writer": "B"})  # B again, once A is done
    medians = {r.split(",")[BENCHMARK_COLUMNS.index("units")]: r.split(",")[BENCHMARK_COLUMNS.index("median_s")]
               for r in (small_set / "benchmarks.csv").read_text().splitlines()[1:] if r.startswith("many_to_many,keras")}
    assert medians == {"64": "0.002", "128": "0.123", "256": "0.5"}
    assert not list(small_set.rglob(f"*{storage.STAGED_SUFFIX}")) and not (small_set / lock.HOLDER_FILE).exists()


def test_bench_run_refuses_before_starting_a_backend_while_another_run_writes(small_set, capsys):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from bench.store import lock; "
                               "lock.acquire(sys.argv[1]); print('held', flush=True); time.sleep(60)", str(small_set)],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["run", "--backends", "torch", "--results-dir", str(small_set)]) == 2
        assert f"another tdbench process is writing here (PID {holder.pid}, started" in one_line_error(capsys)
        assert not (small_set / "logs").exists()
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_holder_leaves_no_lock(small_set):
    killed = subprocess.run([sys.executable, "-c", "import os, sys; from bench.store import lock; "
                             "lock.acquire(sys.argv[1]); os._exit(9)", str(small_set)], cwd=ROOT, timeout=60)
    assert killed.returncode == 9 and (small_set / lock.HOLDER_FILE).exists()
    check_results_dir(small_set)  # recovery takes the free lock and drops the dead holder's note
    assert not (small_set / lock.HOLDER_FILE).exists()
    save_run(small_set, [row(units=128)], {})


# 3. Raw rounds are inside the set.

def test_a_runs_raw_rounds_are_committed_with_its_csvs(small_set):
    save_run(small_set, [row(median=0.004)], {"new": True}, [raw_entry(0.004)])
    rounds = raw.load(small_set)
    assert [[0.004, 0.004]] in rounds.values()
    assert "0.004" in (small_set / "benchmarks.csv").read_text()


# 6. Bounds on every count and time.

@pytest.mark.parametrize("flag, value, message", [
    ("--blocks", "99999999999999999999", "--blocks must be at most 1000"),
    ("--time-budget", "-5", "--time-budget must be a number of seconds above 0"),
    ("--time-budget", "inf", "--time-budget must be a number of seconds above 0"),
])
def test_an_out_of_range_suite_option_stops_collection_at_once(tmp_path, flag, value, message):
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "bench/", "-p", "no:cacheprovider", "--collect-only", "-q", flag, value,
         "--results-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert done.returncode == 2
    assert message in done.stdout + done.stderr and len((done.stdout + done.stderr).strip().splitlines()) == 1


@pytest.mark.parametrize("argv, message", [
    (["seed", "--epochs", "10000000000000"], "argument --epochs: must be at most 1000000"),
    (["stability", "--runs", "1000"], "--runs must be at most 100"),
    (["run", "--blocks", "1001"], "--blocks must be at most 1000"),
])
def test_an_out_of_range_command_option_is_one_line_and_exit_2(capsys, argv, message):
    assert main(argv) == 2
    assert message in one_line_error(capsys)


# 8. Messages that name the file and the problem.

FILE_TOO_LARGE = """
import resource, sys
from bench.analysis.save import save_run
from tests.helpers import benchmark_row
resource.setrlimit(resource.RLIMIT_FSIZE, (4000, 4000))  # as `ulimit -f` does; Python ignores SIGXFSZ
try:
    save_run(sys.argv[1], [benchmark_row(units=n) for n in range(1, 40)], {})
except OSError as e:
    print(f"{e.filename}: {e.strerror}")
"""


def test_a_write_over_the_file_size_limit_names_the_file_and_keeps_the_old_set(small_set):
    before = snapshot(small_set)
    done = subprocess.run([sys.executable, "-c", FILE_TOO_LARGE, str(small_set)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == f"{small_set / 'benchmarks.csv'}: File too large; nothing replaced", done.stderr
    assert snapshot(small_set) == before


def test_parity_out_a_directory_and_memory_results_dir_a_file_say_so(tmp_path, capsys):
    assert main(["parity", "--topology", "one_to_one", "--out", str(tmp_path)]) == 2
    assert f"--out {tmp_path}: is a directory; give a file name" in one_line_error(capsys)
    (tmp_path / "file").write_text("")
    assert main(["memory", "--topology", "one_to_one", "--results-dir", str(tmp_path / "file")]) == 2
    assert f"{tmp_path / 'file'} is not a directory" in one_line_error(capsys)


def test_a_csv_with_a_byte_order_mark_is_read(small_set, capsys):
    for name in ("benchmarks.csv", "comparison.csv"):
        path = small_set / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    check_results_dir(small_set, writing=True)
    assert files.read_csv(small_set / "comparison.csv", required=["topology"])
    assert main(["table", "--results-dir", str(small_set)]) == 0
    assert "many_to_many" in capsys.readouterr().out


@pytest.mark.slow
def test_sigterm_to_bench_run_stops_pytest_with_one_line_and_exit_2(small_set):
    before = snapshot(small_set)
    rc, said, took = interrupt_bench_run(small_set, signal.SIGTERM, ROOT)
    assert rc == 2 and took < 30
    assert said == [said[0]] and said[0].startswith("interrupted: the backend running saved nothing")
    assert snapshot(small_set) == before


def test_a_set_named_by_a_relative_path_is_written_too(tmp_path, monkeypatch):
    """`--results-dir results/x` is relative: the set's commit plan names its staged files relative to it."""
    from bench.store.storage import write_set

    monkeypatch.chdir(tmp_path)
    (tmp_path / "rel").mkdir()
    write_set("rel", {"benchmarks.csv": "a\n1\n"})
    assert (tmp_path / "rel" / "benchmarks.csv").read_text() == "a\n1\n"
    assert not [p for p in (tmp_path / "rel").iterdir() if p.name.startswith(".")]
