"""`python -m bench run --cluster` and `stability --cluster` on a local Ray cluster: exclusive slots, one set
per machine kind, a problem's processes combined, faults.

One cluster for the module, bound to 127.0.0.1 only: a head without a timing
slot (the driver's node), node A (this machine), then node B, which the tests'
machine override (bench/store/machine.py TDBENCH_TEST_MACHINE) makes a
second machine kind. Each driver is a `python -m bench` subprocess, at seed
size, torch backend, with short timing; every wait is bounded.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from importlib.util import find_spec

from bench.analysis.cluster_plan import format_plan, merge_seconds, overheads, plan_rows, projected_wall
from bench.cluster import SLOT
from bench.cluster.connect import LOOPBACK_ONLY
from bench.cluster.units import selects, split_k, units
from bench.store.machine import TEST_MACHINE_VARIABLE
from bench.suite.options import OPTIONS

REPO = Path(__file__).resolve().parents[1]
OTHER_MACHINE = {"cpu": "Test Cluster CPU B", "cores": 2, "memory_gib": 1, "gpu": "none"}
# Seed size, one topology, torch backend, a few short rounds: each task is one pytest process of ~15-25 s here.
QUICK_TIMING = ["--benchmark-max-time=0.05", "--benchmark-min-rounds=3", "--benchmark-min-time=0.001"]
DRIVER_TIMEOUT_S = 300
WAIT_S = 120  # any other wait for the cluster

# Skipped before their fixtures start a cluster; slow, so a plain `pytest tests/` leaves them out (--run-slow runs them).
needs_ray = pytest.mark.skipif(find_spec("ray") is None, reason="Ray is not installed (pip install -e \".[ray]\")")
slow = pytest.mark.slow





# --- without a cluster ---------------------------------------------------------------------------


def test_a_run_without_cluster_parses_and_imports_no_ray():
    code = ("import sys; from bench.cli import build_parser; "
            "a = build_parser('run').parse_args(['run', '--profile', 'seed']); "
            "assert a.cluster is None; print('ray' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "False", done.stdout + done.stderr


def _bench(*args, env=None, timeout=60):
    done = subprocess.run([sys.executable, "-m", "bench", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})
    return done.returncode, done.stdout, done.stderr


def test_td_tax_on_a_cluster_is_refused_in_one_line_before_anything_runs(capsys):
    from bench.cli import main

    assert main(["td-tax", "--cluster", "127.0.0.1:1", "--backends", "torch"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "td-tax --cluster: not supported yet" in err and "--profile tdtax" in err


def test_an_unreachable_address_is_one_line_and_exit_2(tmp_path):
    start = time.monotonic()
    rc, out, err = _bench("run", "--cluster", "127.0.0.1:9", "--results-dir", str(tmp_path / "r"))
    assert rc == 2 and err.count("\n") == 1 and "no Ray cluster reachable at 127.0.0.1:9" in err, out + err
    assert time.monotonic() - start < 30 and not (tmp_path / "r").exists()


def test_cluster_without_ray_installed_is_one_line_and_exit_2(tmp_path):
    fake = tmp_path / "no_ray"
    (fake / "ray").mkdir(parents=True)
    (fake / "ray" / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    with socket_listening() as address:  # reachable, so the missing Ray is what is reported
        rc, out, err = _bench("run", "--cluster", address, "--results-dir", str(tmp_path / "r"),
                              env={"PYTHONPATH": f"{fake}{os.pathsep}{REPO}"})
    assert rc == 2 and err.count("\n") == 1 and "--cluster needs Ray" in err, out + err


@contextlib.contextmanager
def socket_listening():
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}"
    finally:
        server.close()


def test_a_unit_is_one_whole_problem_and_its_k_selects_exactly_it():
    every = units("tdtax", "off", ["torch"], [1])
    by_label = {u.label: u for u in every}
    t5 = next(u for u in every if "timesteps=5 " in u.group and u.group.startswith("many_to_many train"))
    from _pytest.mark.expression import Expression

    k = Expression.compile(t5.k_expression())
    item = lambda case_id, step: f"test_case[{case_id}-{step}]"
    for unit in every:
        for case_id in unit.case_ids:
            for step in ("prepare", "block3"):
                assert k.evaluate(lambda w: w.lower() in item(case_id, step).lower()) == (unit is t5), (case_id, step)
    # both arms, every head, one compile setting, one device
    assert {c.framework for c in t5.cases} >= {"keras", "torch"} and len({c.head for c in t5.cases}) >= 4
    assert len(by_label) == len(every)
    assert all(u.device == "cpu" for u in every) and any(u.device == "cuda" for u in units("seed", "off", ["torch"], [1], gpu=True))


def test_a_problem_in_processes_is_one_whole_problem_per_process():
    (problem,) = units("seed", "off", ["torch"], [1], expression=f"{ONE_TO_ONE} and infer", processes=2)
    p1, p2 = problem.in_processes()
    assert (p1.label, p2.label) == (problem.label + " p1/2", problem.label + " p2/2")
    assert p1.cases == p2.cases == problem.cases and p1.k_expression() == problem.k_expression()  # both arms each
    assert p1.problem == p2.problem == problem and problem.in_processes() != [problem]
    (one,) = units("seed", "off", ["torch"], [1], expression="one_to_one and infer")
    assert one.in_processes() == [one] and one.label == problem.label


@pytest.mark.parametrize("command, message", [
    (["run", "--processes", "0"], "--processes must be"),
    (["run", "--processes", "auto"], "--processes auto with --cluster"),
    (["run", "--retries", "-1"], "--retries must be 0 or more"),
    (["stability", "--runs-from", "a", "b"], "--cluster with --runs-from"),
    (["stability", "--runs", "1"], "--runs must be an integer of 2 or more"),
    (["stability", "--retries", "-1"], "--retries must be 0 or more"),
])
def test_bad_cluster_input_is_one_line_and_exit_2_before_anything_is_timed(tmp_path, command, message):
    rc, out, err = _bench(*command, "--cluster", "127.0.0.1:9", "--results-dir", str(tmp_path / "r"),
                          *(["--keep", str(tmp_path / "keep")] if command[0] == "stability" else []))
    assert rc == 2 and err.count("\n") == 1 and message in err, out + err
    assert not (tmp_path / "r").exists() and not (tmp_path / "keep").exists()


def test_the_users_k_picks_problems_and_the_rest_passes_through():
    assert split_k(["-k", "attention", "--benchmark-max-time=1"]) == ("attention", ["--benchmark-max-time=1"])
    assert split_k(["-kattention and infer"]) == ("attention and infer", [])
    picked = units("seed", "both", ["jax", "torch"], [1], expression="one_to_one and infer")
    assert {(u.keras_backend, u.compile) for u in picked} == {(b, c) for b in ("jax", "torch") for c in ("off", "on")}
    assert all(u.group.startswith("one_to_one infer") for u in picked)
    assert not selects("many_to_one", next(iter(units("seed", "off", ["torch"], [1], "one_to_one")[0].cases)))


def _submitted(monkeypatch, command: str, argv: list[str]) -> list[list[str]]:
    """The pytest command of every task `python -m bench COMMAND --cluster ... ARGV` submits, built in-process:
    its arguments parsed as the command parses them, its problems planned as the driver plans them, and each
    task's arguments (what Ray would ship to time_unit) turned into its node's pytest command. No Ray."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install -e \".[ray]\")")
    from bench.cli import build_parser
    from bench.cluster import driver, task

    args = build_parser(command).parse_args([command, "--cluster", "127.0.0.1:9", *argv])
    sent = []
    remote = SimpleNamespace(remote=lambda *arguments: sent.append(arguments) or object())
    monkeypatch.setattr(driver, "time_unit", SimpleNamespace(options=lambda **options: remote))
    kind = driver.Kind({"cpu": "test"}, Path("unused"), ["node-a"], ["127.0.0.1"])
    expression, pytest_args = split_k(list(args.pytest_args))
    backends = [args.keras_backend] if command == "stability" else args.backends.split(",")
    todo = [(kind, u) for u in units(args.profile, args.compile, backends, [args.threads], expression,
                                     processes=getattr(args, "processes", 1))]
    driver.UnitsRun(None, args, todo, pytest_args, "abc1234").submit()
    return [task.pytest_command(unit, "/tmp/unused", pytest_args, blocks, precision=precision)
            for unit, pytest_args, blocks, precision in sent]  # time_unit's arguments, as time_unit builds it


def _option(command: list[str], flag: str) -> str | None:
    return command[command.index(flag) + 1] if flag in command else None


@pytest.mark.parametrize("command, what", [("run", ["--backends", "torch"]), ("stability", ["--keras-backend", "torch"])])
def test_precision_and_time_budget_reach_every_cluster_task(monkeypatch, command, what):
    """`run --cluster` and `stability --cluster`: --precision and --blocks in every task's pytest command, and a
    --time-budget after `--` too (the run's budget, which each task shares out: --budget-share)."""
    argv = [*what, "--profile", "seed", "--precision", "0.05", "--blocks", "12", "--", "-k", "one_to_one",
            "--time-budget", "100"]
    commands = _submitted(monkeypatch, command, argv)
    assert commands and all(_option(c, "--precision") == "0.05" and _option(c, "--blocks") == "12" for c in commands)
    assert all(_option(c, "--time-budget") == "100" for c in commands)
    default = _submitted(monkeypatch, command, [*what, "--profile", "seed", "--", "-k", "one_to_one"])
    assert {_option(c, "--precision") for c in default} == {str(OPTIONS["--precision"]["default"])}


def test_each_task_gets_its_problems_share_of_a_runs_budget(monkeypatch):
    """A task times one problem: its extension blocks get that problem's part of the run's cases, of the
    run's budget (bench/cluster/units.py budget_shares); a problem's N processes each get the same share."""
    every = units("quick", "off", ["torch", "jax"], [1])
    for backend in ("torch", "jax"):  # a run is one slice: its shares make one whole
        of_slice = [u for u in every if u.keras_backend == backend]
        assert sum(u.budget_share for u in of_slice) == pytest.approx(1.0)
        for u in of_slice:
            assert u.budget_share == pytest.approx(len(u.cases) / sum(len(v.cases) for v in of_slice))
    assert len({len(u.cases) for u in every}) > 1  # problems of unlike size: shares by cases, not equal
    picked = units("quick", "off", ["torch"], [1], expression="attention")  # -k: the run the user asked for
    assert sum(u.budget_share for u in picked) == pytest.approx(1.0) and len(picked) < len(every) / 2
    (problem,) = units("seed", "off", ["torch"], [1], expression=f"{ONE_TO_ONE} and infer", processes=3)
    assert {u.budget_share for u in problem.in_processes()} == {problem.budget_share}
    commands = _submitted(monkeypatch, "run", ["--backends", "torch", "--profile", "seed", "--processes", "2", "--",
                                               "-k", "not onnxruntime"])
    seed = units("seed", "off", ["torch"], [1], expression="not onnxruntime")
    assert len(commands) == 2 * len(seed)
    assert sorted(float(_option(c, "--budget-share")) for c in commands) == sorted(2 * [u.budget_share for u in seed])
    from bench.suite.backend_processes import pytest_command

    local = pytest_command("torch", SimpleNamespace(profile="seed", compile="off", threads=1, blocks=40,
                                                    results_dir="r", pytest_args=[]))
    assert "--budget-share" not in local  # a local run is the whole run


def test_a_killed_tasks_directory_is_removed_by_the_next_task_and_a_live_tasks_is_not(tmp_path):
    """A task's directory outlives a task killed with SIGKILL (its `with` never ends); the next task made on the
    machine removes it, never one a live task holds, nor one it did not make (bench/cluster/scratch.py)."""
    from bench.cluster import scratch

    holder = ("import sys, time; from pathlib import Path; from bench.cluster import scratch\n"
              "with scratch.directory('task', Path(sys.argv[1])) as d:\n"
              "    (d / 'results').mkdir(); (d / 'results' / '.tdbench-lock').write_text('PID')\n"
              "    print(d, flush=True); time.sleep(300)\n")
    children = [subprocess.Popen([sys.executable, "-c", holder, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                                 env={**os.environ, "PYTHONPATH": str(REPO)}) for _ in range(2)]
    try:
        killed, live = (Path(c.stdout.readline().strip()) for c in children)
        children[0].kill()  # as Ray kills a lost worker: no cleanup runs
        children[0].wait(timeout=WAIT_S)
        assert (killed / "results" / ".tdbench-lock").exists()  # what /tmp filled with
        other = tmp_path / "tdbench-task-unmarked"  # not made here (e.g. before this module): left alone
        (other / "results").mkdir(parents=True)
        with scratch.directory("task", tmp_path) as mine:
            assert mine.name.startswith("tdbench-task-") and (mine / scratch.MARK).exists()
            assert not killed.exists() and live.exists() and other.exists()
            assert scratch.sweep(tmp_path) == []  # mine is held too
        assert not mine.exists() and live.exists()
    finally:
        for child in children:
            child.kill()
            child.wait(timeout=WAIT_S)
    assert scratch.sweep(tmp_path) == [live]  # its holder gone


def test_the_projection_is_floored_by_the_longest_task_and_bounded_above_by_greedy():
    tasks = [30.0, 10.0, 10.0, 10.0, 5.0, 5.0]
    assert projected_wall(tasks, 1) == (70.0, 70.0)
    assert projected_wall(tasks, 4) == (30.0, 70 / 4 + 0.75 * 30)
    rows = plan_rows(tasks, (1, 4, 64))
    assert [r["floor_is_longest_task"] for r in rows] == [False, True, True]
    table = format_plan(rows)
    assert "| 64 | 6 | 30 s |" in table and "the longest task" in table


def test_overhead_is_node_time_outside_pytest_and_the_trip_back_is_counted_apart():
    log = [  # one run, one node, two tasks submitted at 0
        dict(run_started="r", node_id="n", submitted=0, start=1.0, end=11.0, pytest_s=9.5, arrived=11.1, outcome="ok"),
        dict(run_started="r", node_id="n", submitted=0, start=11.3, end=20.0, pytest_s=8.5, arrived=20.2, outcome="ok"),
        dict(run_started="r", node_id="n", submitted=0, start="", end="", pytest_s="", arrived=21, outcome="not timed"),
    ]
    assert overheads(log) == pytest.approx([1.0 + 0.5, 0.3 + 0.2])  # the wait for the slot, the task outside pytest
    assert merge_seconds(log) == pytest.approx([0.1, 0.2])  # back and merged while the node runs its next task


# --- on a local cluster --------------------------------------------------------------------------


@contextlib.contextmanager
def environment(**values):
    """os.environ with `values` while a node starts (its raylet and workers inherit it), then as it was."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def add_slot_node(cluster, **env):
    with environment(PYTHONPATH=str(REPO), **env):
        return cluster.add_node(num_cpus=1, resources={SLOT: 1}, node_ip_address="127.0.0.1")


@pytest.fixture(scope="module")
def cluster():
    """A head without a timing slot (the driver's node), on 127.0.0.1 only."""
    os.environ.update(LOOPBACK_ONLY)  # before Ray is imported: the cluster stays on loopback (bench/cluster/connect.py)
    from ray.cluster_utils import Cluster

    # The head runs no task; each slot node gets its checkout through PYTHONPATH (add_slot_node).
    c = Cluster(initialize_head=True, head_node_args=dict(num_cpus=1, node_ip_address="127.0.0.1", include_dashboard=False))
    try:
        yield c
    finally:
        c.shutdown()


@pytest.fixture(scope="module")
def one_kind(cluster):
    """Node A (this machine), with a timing slot."""
    if not cluster.worker_nodes:
        add_slot_node(cluster)
    return cluster


@pytest.fixture(scope="module")
def two_kinds(one_kind):
    """Node A (this machine) and node B (another machine kind), each with a timing slot."""
    if len(one_kind.worker_nodes) < 2:
        add_slot_node(one_kind, **{TEST_MACHINE_VARIABLE: json.dumps(OTHER_MACHINE)})
    return one_kind


# The problems the drivers time: Keras and torch only (an ONNX Runtime case adds its exports, seconds of
# every infer task, to what these tests check: where the rows go, not what they hold).
ONE_TO_ONE = "one_to_one and not onnxruntime"


def driver(cluster, root, *options, k=ONE_TO_ONE, command="run"):
    what = ["--backends", "torch"] if command == "run" else ["--keras-backend", "torch"]
    return [sys.executable, "-m", "bench", command, "--cluster", cluster.address, *what,
            "--profile", "seed", "--compile", "off", "--blocks", "2", "--results-dir", str(root), *options,
            "--", "-k", k, *QUICK_TIMING]


def driver_process(cluster, root, *options, **kwargs) -> dict:
    """Where a driver runs: outside the checkout, which it imports through PYTHONPATH. Ray puts the
    driver's working directory on every worker's sys.path; from the checkout, it would shadow
    the code of a node that runs another checkout."""
    Path(root).parent.mkdir(parents=True, exist_ok=True)
    return dict(args=driver(cluster, root, *options, **kwargs), cwd=Path(root).parent, text=True,
                env={**os.environ, "PYTHONPATH": str(REPO)})


def run_driver(cluster, root, *options, **kwargs):
    done = subprocess.run(**driver_process(cluster, root, *options, **kwargs), capture_output=True,
                          timeout=DRIVER_TIMEOUT_S)
    return done.returncode, done.stdout, done.stderr


def machine_dirs(root: Path) -> dict[str, Path]:
    return {p.name: p for p in sorted(Path(root).iterdir()) if (p / "machine.json").exists()}


def is_other(directory: Path) -> bool:
    return json.loads((directory / "machine.json").read_text())["fingerprint"] == OTHER_MACHINE


def rows(directory: Path) -> list[dict]:
    path = directory / "benchmarks.csv"
    return list(csv.DictReader(path.open())) if path.exists() else []


def tasks(directory: Path) -> list[dict]:
    return list(csv.DictReader((directory / "logs" / "cluster-tasks.csv").open()))


@needs_ray
@slow
def test_a_cluster_without_timing_slots_is_refused_before_anything_runs(cluster, tmp_path):
    assert not cluster.worker_nodes, "runs first, while the cluster is only its head (no slot)"
    rc, out, err = run_driver(cluster, tmp_path / "results")
    assert rc == 2 and err.count("\n") == 1 and "no node of the cluster offers a timing slot" in err, out + err
    assert not (tmp_path / "results").exists()


@needs_ray
@slow
def test_stability_on_a_cluster_of_one_kind_takes_each_run_there_and_writes_its_files(one_kind, tmp_path):
    """--runs 2: two cluster runs of the slice, one after the other, analysed as local runs are."""
    root, keep = tmp_path / "results", tmp_path / "runs"
    rc, out, err = run_driver(one_kind, root, "--runs", "2", "--keep", str(keep), command="stability",
                              k="one_to_one and infer")
    assert rc == 0, out + err
    (directory,) = machine_dirs(root).values()  # this machine's: node A's kind
    assert not is_other(directory)
    for name in ("stability.csv", "noise.json", "stability_history.csv", "stability_sets.csv"):
        assert (directory / name).exists(), name
    (pair,) = list(csv.DictReader((directory / "stability.csv").open()))
    assert pair["runs"] == "2" and pair["topology"] == "one_to_one"
    noise = json.loads((directory / "noise.json").read_text())
    assert noise["runs"] == 2 and noise["run_dirs"] == [str(keep / "run-1"), str(keep / "run-2")]
    for run in ("run-1", "run-2"):  # each run's own directory, as a local run writes it
        assert {r["framework"] for r in rows(keep / run)} >= {"keras", "torch"}
    logged = tasks(directory)  # the runs' tasks, under labels no --resume takes for a problem
    assert [t["unit"].split(":")[0] for t in logged] == ["stability run 1/2", "stability run 2/2"]
    assert all(t["outcome"] == "ok" for t in logged) and not rows(directory)
    (first, second) = logged
    assert float(first["end"]) <= float(second["start"])  # run 2 starts once run 1 is in
    assert "run 2 of 2" in out


@pytest.fixture(scope="module")
def interrupted_then_resumed(two_kinds, tmp_path_factory):
    """A two-kind run interrupted after its first merge, then run again with --resume."""
    root = tmp_path_factory.mktemp("cluster") / "results"
    # As from a terminal: a process started in the background (CI may be) inherits SIGINT ignored,
    # and Python then installs no KeyboardInterrupt for it.
    child = subprocess.Popen(**driver_process(two_kinds, root), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    first_merge, deadline = None, time.monotonic() + DRIVER_TIMEOUT_S
    for line in child.stdout:  # bounded: the driver prints a line per task and ends
        if "merged" in line:
            first_merge = line
            child.send_signal(signal.SIGINT)
            break
        assert time.monotonic() < deadline
    out, err = child.communicate(timeout=WAIT_S)
    kept = {name: (d / "benchmarks.csv").read_text() for name, d in machine_dirs(root).items()}
    resumed = run_driver(two_kinds, root, "--resume")
    return SimpleNamespace(root=root, first_merge=first_merge, rc=child.returncode, out=out, err=err, kept=kept,
                           resumed=resumed)


@needs_ray
@slow
def test_an_interrupted_driver_keeps_what_it_merged_and_resume_skips_it(interrupted_then_resumed):
    run = interrupted_then_resumed
    assert run.first_merge and run.rc == 2 and "interrupted" in run.err, (run.out, run.err)
    assert sum(len(text.splitlines()) - 1 for text in run.kept.values()) >= 2  # the merged rows survived
    rc, out, err = run.resumed
    assert rc == 0, out + err
    assert "--resume: 1 problem(s) already held" in out or "--resume: 2 problem(s) already held" in out, out
    for name, text in run.kept.items():  # rows measured before the interrupt: kept, not measured again
        now = (run.root / name / "benchmarks.csv").read_text().splitlines()
        assert set(text.splitlines()) <= set(now)


@needs_ray
@slow
def test_two_machine_kinds_give_two_result_sets_and_no_node_times_two_tasks_at_once(interrupted_then_resumed):
    root = interrupted_then_resumed.root
    dirs = machine_dirs(root)
    assert len(dirs) == 2 and sum(map(is_other, dirs.values())) == 1, dirs
    by_node: dict[str, list] = {}
    for directory in dirs.values():
        measured = rows(directory)
        assert {r["mode"] for r in measured} == {"train", "infer"}
        assert {r["framework"] for r in measured} >= {"keras", "torch"}
        recorded = json.loads((directory / "machine.json").read_text())["fingerprint"]
        slices = json.loads((directory / "environment.json").read_text())["slices"]
        assert slices and all(s["machine"] == recorded for s in slices.values())  # never mixed
        for t in tasks(directory):
            if t["outcome"] == "ok":
                by_node.setdefault(t["node_id"], []).append((float(t["start"]), float(t["end"])))
    assert len(by_node) == 2 and sum(map(len, by_node.values())) >= 4
    for spans in by_node.values():  # a node's tasks, by start: each ends before the next starts
        spans.sort()
        assert all(end <= next_start for (_, end), (next_start, _) in zip(spans, spans[1:])), spans


def _raylet(cluster, other_kind: bool) -> int:
    """The pid of node A's (or B's) raylet in this module's cluster: the parent of that node's Ray workers."""
    import psutil

    for node in cluster.worker_nodes:
        pid = node.all_processes["raylet"][0].process.pid
        if (TEST_MACHINE_VARIABLE in psutil.Process(pid).environ()) == other_kind:
            return pid
    raise AssertionError(f"no node {'B' if other_kind else 'A'} in the test cluster")


def _task_pytest(cluster, on_other_kind: bool, not_pids=()):
    """A task's pytest process on node A (or B) of this module's cluster, not one of `not_pids`; None if there is
    none yet. Only a process whose Ray worker that node's raylet started: a task of another cluster on this
    machine (another checkout's run, its own `ray start`) is never taken, so never killed."""
    import psutil

    raylet = _raylet(cluster, on_other_kind)
    for p in psutil.process_iter(["pid", "cmdline"]):
        try:
            cmd = " ".join(p.info["cmdline"] or [])
            if "tdbench-task-" in cmd and "pytest" in cmd and p.pid not in not_pids:
                worker = p.parent()
                if worker is not None and worker.ppid() == raylet:
                    return p
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return None


def _kill_its_worker(cluster, process, on_other_kind: bool = False) -> None:
    """Kill the Ray worker running `process` (a task's pytest), checked again to be a worker of node A's (or B's)
    raylet in this module's cluster."""
    worker = process.parent()
    assert worker is not None and worker.ppid() == _raylet(cluster, on_other_kind), "not this test cluster's worker"
    worker.kill()


@needs_ray
@slow
def test_a_worker_killed_mid_task_is_retried_then_its_cases_are_reported_not_timed(
        interrupted_then_resumed, two_kinds, tmp_path):
    """--retries 1: node A's worker is killed in the task and again in its retry; nothing measured is lost."""
    import psutil
    import shutil

    measured = interrupted_then_resumed.root
    root = tmp_path / "results"
    shutil.copytree(measured, root)
    before = {name: (d / "benchmarks.csv").read_text() for name, d in machine_dirs(root).items()}
    logged = {name: len(tasks(d)) for name, d in machine_dirs(root).items()}
    child = subprocess.Popen(**driver_process(two_kinds, root, "--retries", "1", k=f"{ONE_TO_ONE} and infer"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    killed = []
    try:
        for _attempt in range(2):  # the task, then its one retry
            deadline, process = time.monotonic() + WAIT_S, None
            while process is None:
                assert time.monotonic() < deadline and child.poll() is None, "no task started on node A"
                process = _task_pytest(two_kinds, on_other_kind=False, not_pids=killed)
                time.sleep(0.2)
            time.sleep(1.0)  # mid-task: pytest is importing or timing
            _kill_its_worker(two_kinds, process)  # the Ray worker running the task
            killed.append(process.pid)
            psutil.wait_procs([process], timeout=30)  # its pytest dies with it (task.py _in_child)
            assert not process.is_running()
        out, err = child.communicate(timeout=DRIVER_TIMEOUT_S)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 1, out + err
    assert "one_to_one-keras-infer-cpu-seed: not timed: node lost" in err, err
    a, b = sorted(machine_dirs(root).values(), key=is_other)
    assert (a / "benchmarks.csv").read_text() == before[a.name]  # node A's rows: as they were
    assert [t["outcome"].split(":")[:2] for t in tasks(a)[logged[a.name]:]] == [["not timed", " node lost"]]
    assert [t["outcome"] for t in tasks(b)[logged[b.name]:]] == ["ok"]  # node B's task finished and merged
    assert len(rows(b)) == len(before[b.name].splitlines()) - 1  # its cases' rows replaced, none added or lost


def test_node_facts_that_differ_are_named():
    from bench.cluster.node_facts import differences

    here = {"code": "abc1234", "changes": "", "versions": {"torch": "2.13.0", "keras": "3.15.1"}}
    assert differences(here, here) == []
    other = {"code": "abc1234+changes", "changes": "0123456789ab", "versions": {"torch": "2.12.0", "keras": "3.15.1"}}
    assert differences(here, other) == ["code abc1234+changes (diff 0123456789ab), driver abc1234", "torch 2.12.0, driver 2.13.0"]


@needs_ray
@slow
def test_a_node_running_other_code_is_refused_in_one_line_naming_it(two_kinds, tmp_path):
    cluster = two_kinds
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True, timeout=WAIT_S)
    with (clone / "bench" / "cluster" / "__init__.py").open("a") as f:
        f.write("# a change only this node has\n")
    node = None
    try:
        with environment(PYTHONPATH=str(clone)), contextlib.chdir(clone):  # the node's workers start there
            node = cluster.add_node(num_cpus=1, resources={SLOT: 1}, node_ip_address="127.0.0.1")
        rc, out, err = run_driver(cluster, tmp_path / "results")
    finally:
        if node is not None:
            cluster.remove_node(node)
    assert rc == 2 and err.count("\n") == 1, out + err
    assert "node 127.0.0.1 (" in err and "refused: code " in err and "+changes (diff " in err, err
    assert not (tmp_path / "results").exists()


@needs_ray
@slow
def test_stability_on_a_cluster_of_two_machine_kinds_is_refused_in_one_line(two_kinds, tmp_path):
    rc, out, err = run_driver(two_kinds, tmp_path / "results", "--runs", "2", "--keep", str(tmp_path / "runs"),
                              command="stability", k="one_to_one and infer")
    assert rc == 2 and err.count("\n") == 1 and "2 machine kinds" in err and "one kind" in err, out + err
    assert not (tmp_path / "results").exists() and not (tmp_path / "runs").exists()


@pytest.fixture(scope="module")
def in_two_processes(two_kinds, tmp_path_factory):
    """`run --processes 2 --retries 0` on both kinds, node A's worker killed in its first process task:
    node B's problem combines its two processes, node A's is lost."""
    import psutil

    root = tmp_path_factory.mktemp("processes") / "results"
    # 10 blocks a process: the fewest from which a process gives its own paired estimate (stats.MIN_PAIRED_BLOCKS)
    child = subprocess.Popen(**driver_process(two_kinds, root, "--processes", "2", "--retries", "0", "--blocks", "10",
                                              k="one_to_one and infer"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline, process = time.monotonic() + WAIT_S, None
        while process is None:
            assert time.monotonic() < deadline and child.poll() is None, "no task started on node A"
            process = _task_pytest(two_kinds, on_other_kind=False)
            time.sleep(0.2)
        time.sleep(1.0)  # mid-task
        _kill_its_worker(two_kinds, process)  # the Ray worker running node A's first process task
        psutil.wait_procs([process], timeout=30)
        out, err = child.communicate(timeout=DRIVER_TIMEOUT_S)
    finally:
        if child.poll() is None:
            child.kill()
    a, b = sorted(machine_dirs(root).values(), key=is_other)
    return SimpleNamespace(root=root, rc=child.returncode, out=out, err=err, a=a, b=b)


@needs_ray
@slow
def test_a_problem_in_two_processes_is_combined_from_both_with_each_block_labelled(in_two_processes):
    run, b = in_two_processes, in_two_processes.b
    assert run.rc == 1, run.out + run.err  # node A's problem was lost (below)
    measured = rows(b)
    assert {r["framework"] for r in measured} >= {"keras", "torch"}
    assert len({(r["framework"], r["head"]) for r in measured}) == len(measured)  # a row per case, not per process
    (raw_file,) = (b / "raw").glob("*.json")
    for entry in json.loads(raw_file.read_text())["benchmarks"]:
        labels = entry["extra_info"]["block_process"]
        assert sorted(set(labels)) == [0, 1] and len(labels) == len(entry["extra_info"]["block_rounds"])
    (environment,) = json.loads((b / "environment.json").read_text())["slices"].values()
    assert environment["processes"] == 2 and len(environment["run"]["process_wall_s"]) == 2
    pairs = list(csv.DictReader((b / "comparison.csv").open()))
    assert pairs and all(p["interval_noise"] == "this run's blocks and processes only" for p in pairs)
    logged = tasks(b)
    assert sorted(t["unit"][-5:] for t in logged if t["outcome"] == "ok") == [" p1/2", " p2/2"]
    (together,) = [t for t in logged if t["outcome"] == "combined"]
    assert not together["unit"].endswith("/2") and int(together["rows"]) == len(measured)
    assert len(together["node_id"].split()) == 2
    assert "2 processes combined" in run.out
    by_node: dict[str, list] = {}  # no node times two tasks at once
    for directory in (run.a, b):
        for t in tasks(directory):
            if t["start"]:
                by_node.setdefault(t["node_id"], []).append((float(t["start"]), float(t["end"])))
    for spans in by_node.values():
        spans.sort()
        assert all(end <= next_start for (_, end), (next_start, _) in zip(spans, spans[1:])), spans


@needs_ray
@slow
def test_a_problem_whose_process_is_lost_merges_nothing_and_resume_holds_only_combined_problems(
        in_two_processes, interrupted_then_resumed):
    import dataclasses
    import re

    from bench.cluster.driver import finished_units
    from bench.cluster.merge import is_held
    from bench.cluster.node_facts import code_facts

    run, a = in_two_processes, in_two_processes.a
    for case in ("keras", "torch"):
        assert re.search(rf"one_to_one-{case}-infer-cpu-seed: not timed: node lost: \w+.* in process [12]/2; "
                         "no process of this problem is merged", run.err), run.err
    assert not (a / "benchmarks.csv").exists()  # nothing of node A's problem merged
    outcomes = sorted(t["outcome"].split(":")[0] for t in tasks(a))
    assert outcomes in (["cancelled", "not timed"], ["discarded", "not timed"]), outcomes
    facts = code_facts()
    (problem,) = units("seed", "off", ["torch"], [1], expression=f"{ONE_TO_ONE} and infer", processes=2)
    one_process = dataclasses.replace(problem, processes=1)
    finished = lambda directory: finished_units(SimpleNamespace(directory=directory))
    b = in_two_processes.b
    assert is_held(b, problem, facts, finished(b))  # combined from 2: held for --processes 2
    assert not is_held(b, one_process, facts, finished(b))  # but not for one process
    assert not is_held(a, problem, facts, finished(a))  # its processes never combined
    earlier = interrupted_then_resumed.root  # one process per problem there
    for d in machine_dirs(earlier).values():
        assert is_held(d, one_process, facts, finished(d)) and not is_held(d, problem, facts, finished(d))
