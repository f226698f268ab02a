"""pytest wiring for the benchmark suite: options, one parameter per case, result files.

This file imports no framework at module level: threads and the Keras
backend are fixed in pytest_configure, before any test module loads one.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from bench.suite import runtime
from bench.suite.cases import all_cases
from bench.store import layout, lock
from bench.store.machine import OtherMachine, check_same_machine, gpu_model
from bench.suite.options import DEFAULT_RUN_BUDGET_S, OPTIONS, PROGRESS_PREFIX, add_pytest_options, checked_option
from bench.suite.session import PREPARE, BenchSession, Timing, skip_step
from bench.store.validate import ResultsError, check_results_dir

SESSION = pytest.StashKey[BenchSession]()
STARTED = pytest.StashKey[float]()
WRITING_NOTE = pytest.StashKey[str]()
LOCKED = pytest.StashKey[object]()  # the results directory whose lock this session holds


def pytest_addoption(parser):
    add_pytest_options(parser)
    group = parser.getgroup("tdbench")
    group.addoption(
        "--tdbench-progress", action="store_true", help="print a progress line per case (for python -m bench run)"
    )


def _stop(message: str):
    """A bad option, environment or result file: one line, exit status 2, before anything runs."""
    pytest.exit(f"tdbench: {message}", returncode=2)


def pytest_configure(config):
    config.stash[STARTED] = time.monotonic()
    option = config.option
    try:
        for flag, kwargs in OPTIONS.items():
            setattr(option, kwargs["dest"], checked_option(flag, getattr(option, kwargs["dest"])))
        threads = option.tdbench_threads
        backend = option.tdbench_keras_backend or runtime.parse_backend(runtime.keras_backend(), "KERAS_BACKEND")
    except ValueError as e:
        _stop(str(e))
    runtime.configure(threads, backend)
    if option.tdbench_compile_cache is not None:  # off by default: every first call compiles from scratch
        runtime.use_compile_caches(config.rootpath / option.tdbench_compile_cache)
    if not option.collectonly and not getattr(option, "benchmark_disable", False):
        runtime.pin_cpus(threads)  # a timed process: both arms on the same CPUs,
        runtime.fix_malloc()  # and on an allocator whose state does not depend on the cases before
    timed = not option.collectonly and not getattr(option, "benchmark_disable", False)
    try:
        results_dir = _results_dir(config, claim=timed)
        # Existing result files are checked now, not after hours of timing (bench/store/validate.py),
        # and so is the machine they were measured on (bench/store/machine.py). The directory's lock
        # is held from here to the end of the save: no other run writes into it meanwhile (bench/store/lock.py).
        if timed:  # a run that will save: no other writes into its directory meanwhile
            lock.acquire(results_dir)
            config.stash[LOCKED] = results_dir
        if not option.collectonly:
            check_results_dir(results_dir, writing=True)
            if timed:
                check_same_machine(results_dir)
    except (ResultsError, OtherMachine, layout.LayoutError, OSError) as e:
        _stop(str(e))
    if option.tdbench_extra_work and option.tdbench_results_dir is None:
        _stop("--extra-work needs --results-dir: a set with added work is an experiment, not this machine's results")
    config.stash[SESSION] = BenchSession(option.tdbench_profile, threads, backend, results_dir, _timing(config))
    config.stash[SESSION].extra_work = option.tdbench_extra_work
    _note_interrupts(config.stash[SESSION])
    if option.tdbench_progress:
        config.pluginmanager.register(ProgressLines(config), "tdbench-progress")


def _results_dir(config, claim: bool):
    """--results-dir, else this machine's directory under results/ (created for a timed run, which says so)."""
    given = config.option.tdbench_results_dir
    if given is not None:
        return config.rootpath / given
    root = config.rootpath / layout.RESULTS_ROOT
    if not claim:  # nothing will be written: no directory made for it
        return layout.this_machine_dir(root)
    chosen = layout.set_to_write(None, root)
    config.stash[WRITING_NOTE] = chosen.note
    return chosen.directory


def _blocks(config) -> int:
    """--blocks, or 1 where nothing is timed (--benchmark-disable runs each case once)."""
    return 1 if getattr(config.option, "benchmark_disable", False) else config.option.tdbench_blocks


def _timing(config) -> Timing:
    option = config.option
    return Timing(min_time=float(option.benchmark_min_time), max_time=float(option.benchmark_max_time),
                  min_rounds=int(option.benchmark_min_rounds), blocks=_blocks(config),
                  disable_gc=bool(getattr(option, "benchmark_disable_gc", False)),
                  precision=option.tdbench_precision, budget_s=option.time_budget or DEFAULT_RUN_BUDGET_S,
                  share=option.tdbench_budget_share)


def block_order(cases: list, blocks: int, devices: tuple = ("cpu", "cuda")) -> list[tuple]:
    """(case, step) in the order run: every case prepared (step 0), then its blocks (steps 1..blocks).

    Block by block: block 1 of every case, then block 2 of every case...;
    within a block, problem by problem, case by case (in_block_order). The cases of one problem
    (pytest-benchmark group) stay adjacent in every block, so a Keras block and
    the torch block it is compared with are seconds apart. A case's blocks are
    spread over the whole run: on these VMs a case's speed can shift for tens
    of seconds (a neighbour on the host), and blocks taken minutes apart meet
    several such states where adjacent ones share one. Every case is prepared
    before the first block is timed, so each block meets the same process (all
    models built, none released): when a case was prepared right before its
    own first block, that block ran up to 17% faster than its later ones
    (torch train steps; Keras about half that), a shift of block 1's ratios.
    torch.compile is the exception (compile on): dynamo shares its graphs
    between models of one class, so a compiled case's graphs are dropped when
    its problem starts (harness.prepare) and its problem's steps must run back
    to back: there the order is problem by problem, preparation first.
    A case on a device not in `devices` gets its preparation step alone,
    which skips saying why: --blocks items that would each skip cost pytest
    about 4 ms apiece (half the items of a default run on a machine without a GPU).
    """
    problems: dict[tuple, list] = {}
    unavailable = []  # a device this machine lacks: the preparation step skips with the reason, no block follows
    for case in cases:
        if case.device in devices:
            problems.setdefault((case.group, case.compile), []).append(case)
        else:
            unavailable.append((case, PREPARE))
    spread = [cases for (_, compile), cases in problems.items() if compile != "on"]
    together = [cases for (_, compile), cases in problems.items() if compile == "on"]
    steps = range(PREPARE, blocks + 1)
    return (unavailable + [(case, step) for step in steps for group in spread for case in in_block_order(group, step)]
            + [(case, step) for group in together for step in steps for case in in_block_order(group, step)])


def in_block_order(group: list, step: int) -> list:
    """A problem's cases in block `step`: as listed in odd blocks (and preparation), reversed in even ones (ABBA).

    Within a block the machine can drift from one case to the next; an arm
    that always ran first would carry that drift into every one of its
    ratios. Alternating the order puts each arm first in half of the blocks,
    so a steady drift cancels in the blocks' combined ratio; raw/ records
    each block's start (session.py, block_started_s) so its effect can be measured.
    """
    return list(reversed(group)) if step and step % 2 == 0 else list(group)


def step_id(case, step: int, blocks: int) -> str:
    if step == PREPARE:
        return f"{case.id}-prepare"
    return case.id if blocks == 1 else f"{case.id}-block{step}"


def _note_interrupts(session: BenchSession) -> None:
    """Remember any Ctrl-C: a KeyboardInterrupt that lands in framework code (torch.compile, say)
    can come back as an ordinary test failure, and a failed session would still save."""
    previous = signal.getsignal(signal.SIGINT)
    if previous in (signal.SIG_IGN, None):
        return

    def interrupted(signum, frame):
        session.interrupted = True
        if callable(previous):
            previous(signum, frame)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupted)


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames:
        option = metafunc.config.option
        blocks = _timing(metafunc.config).steps  # --blocks, and the extension blocks after them
        devices = ("cpu", "cuda") if gpu_model() != "none" else ("cpu",)
        order = block_order(all_cases(option.tdbench_profile, option.tdbench_compile), blocks, devices)
        # A preparation step asks for pytest-benchmark's fixture (so --benchmark-only runs it) but times nothing.
        quiet = pytest.mark.filterwarnings("ignore:Benchmark fixture was not used at all")
        metafunc.parametrize(("case", "step"), [
            pytest.param(case, step, id=step_id(case, step, blocks), marks=[quiet] if step == PREPARE else [])
            for case, step in order
        ])


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    """A block step whose skip is already decided (BenchSession.decided_skip) is reported as skipped, with
    the same reason and location as when its test raises it, without pytest's setup, call and teardown:
    about half the items of a default run are extension blocks of problems that stopped, and each cost
    fixtures, output capture and bookkeeping (measured: 0.65 ms of CPU per item against 0.1 ms reported
    here; several times that in wall time on a shared vCPU). The next item must share this item's parent
    (pytest tears the previous item down towards this one), as every block step of bench/test_benchmarks.py does."""
    # The hook is the whole session's: with `pytest tests/ bench/` it sees tests/'s items too.
    params = getattr(getattr(item, "callspec", None), "params", {})
    session = item.config.stash.get(SESSION, None)
    if (session is None or item.path.parent != Path(__file__).parent or not {"case", "step"} <= params.keys()
            or nextitem is None or nextitem.parent is not item.parent):
        return None
    reason = session.decided_skip(params["case"], params["step"])
    if reason is None:
        return None
    ihook = item.ihook
    ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    for when, outcome in (("setup", lambda: skip_step(reason)), ("teardown", lambda: None)):
        call = pytest.CallInfo.from_call(outcome, when)
        ihook.pytest_runtest_logreport(report=ihook.pytest_runtest_makereport(item=item, call=call))
    ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


def pytest_runtest_setup(item):
    budget = item.config.option.time_budget
    if budget is not None and "case" in getattr(item, "fixturenames", ()):
        spent = time.monotonic() - item.config.stash[STARTED]
        if spent > budget:
            pytest.skip(f"time budget spent: {spent:.0f} s of --time-budget {budget:g} s before this case started")


@pytest.fixture(scope="session")
def bench_session(request) -> BenchSession:
    return request.config.stash[SESSION]


class ProgressLines:
    """One line per finished case, `tdbench-progress K N OUTCOME CASE`, for `python -m bench run`."""

    def __init__(self, config):
        self.config, self.done, self.total, self.counted = config, 0, 0, set()

    def pytest_collection_finish(self, session):
        # Steps of a device this machine lacks skip at once: not counted, so the bar's time left holds.
        has_gpu = gpu_model() != "none"
        self.counted = {item.nodeid for item in session.items
                        if has_gpu or getattr(getattr(item, "callspec", None), "params", {}).get("case") is None
                        or item.callspec.params["case"].device == "cpu"}
        self.total = len(self.counted)

    def pytest_runtest_logreport(self, report):
        if report.nodeid not in self.counted:
            return
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.done += 1
            case_id = report.nodeid.rsplit("[", 1)[-1].rstrip("]")
            self.config.pluginmanager.get_plugin("terminalreporter").write_line(
                f"{PROGRESS_PREFIX} {self.done} {self.total} {report.outcome} {case_id}"
            )


def pytest_collection_finish(session):
    # What `python -m bench run` estimates the next run's duration from (bench/analysis/run_estimate.py).
    option = session.config.option
    session.config.stash[SESSION].run_record = {
        "compile": option.tdbench_compile,
        "steps": sum(1 for item in session.items if "case" in getattr(getattr(item, "callspec", None), "params", {})),
        "profile_steps": len(all_cases(option.tdbench_profile, option.tdbench_compile)) * (_timing(session.config).steps + 1),
    }


def pytest_sessionfinish(session, exitstatus):
    # Interrupted, crashed or misused runs keep the previous files as they were.
    bench = session.config.stash[SESSION]
    if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) and not bench.interrupted:
        try:
            bench.save()
        except (ResultsError, OSError) as e:  # a full disk, a file size limit: which file, not a traceback
            where = f"{e.filename}: {e.strerror}" if isinstance(e, OSError) and e.filename else str(e)
            bench.save_failed(f"nothing saved: {where}")
            session.exitstatus = 2


def pytest_unconfigure(config):
    if LOCKED in config.stash:
        lock.release(config.stash[LOCKED])
        del config.stash[LOCKED]


def pytest_terminal_summary(terminalreporter, config):
    message = config.stash[SESSION].summary()
    if message:
        terminalreporter.write_sep("-", "tdbench")
        terminalreporter.write_line(message)


def pytest_report_header(config):
    note = config.stash.get(WRITING_NOTE, "")
    return f"tdbench: {note}" if note else None
