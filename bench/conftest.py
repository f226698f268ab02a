"""pytest wiring for the benchmark suite: options, one parameter per case, result files.

This file imports no framework at module level: threads and the Keras
backend are fixed in pytest_configure, before any test module loads one.
"""

from __future__ import annotations

import pytest

from bench import runtime
from bench.cases import all_cases
from bench.machine import OtherMachine, check_results_dir
from bench.options import PROGRESS_PREFIX, add_pytest_options, default_keras_backend
from bench.session import BenchSession

SESSION = pytest.StashKey[BenchSession]()


def pytest_addoption(parser):
    add_pytest_options(parser)
    parser.getgroup("tdbench").addoption(
        "--tdbench-progress", action="store_true", help="print a progress line per case (for python -m bench run)"
    )


def pytest_configure(config):
    option = config.option
    threads = option.tdbench_threads
    backend = option.tdbench_keras_backend or default_keras_backend()
    runtime.configure(threads, backend)
    results_dir = config.rootpath / option.tdbench_results_dir
    if not getattr(option, "benchmark_disable", False) and not option.collectonly:
        try:  # before minutes of timing, not at the end
            check_results_dir(results_dir)
        except OtherMachine as e:
            pytest.exit(str(e), returncode=2)
    config.stash[SESSION] = BenchSession(option.tdbench_profile, threads, backend, results_dir)
    if option.tdbench_progress:
        config.pluginmanager.register(ProgressLines(config), "tdbench-progress")


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames:
        option = metafunc.config.option
        cases = all_cases(option.tdbench_profile, option.tdbench_compile)
        metafunc.parametrize("case", cases, ids=[c.id for c in cases])


@pytest.fixture(scope="session")
def bench_session(request) -> BenchSession:
    return request.config.stash[SESSION]


class ProgressLines:
    """One line per finished case, `tdbench-progress K N OUTCOME CASE`, for `python -m bench run`."""

    def __init__(self, config):
        self.config, self.done, self.total = config, 0, 0

    def pytest_collection_finish(self, session):
        self.total = len(session.items)

    def pytest_runtest_logreport(self, report):
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.done += 1
            case_id = report.nodeid.rsplit("[", 1)[-1].rstrip("]")
            self.config.pluginmanager.get_plugin("terminalreporter").write_line(
                f"{PROGRESS_PREFIX} {self.done} {self.total} {report.outcome} {case_id}"
            )


def pytest_sessionfinish(session, exitstatus):
    # Interrupted, crashed or misused runs keep the previous files as they were.
    if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        session.config.stash[SESSION].save()


def pytest_terminal_summary(terminalreporter, config):
    message = config.stash[SESSION].summary()
    if message:
        terminalreporter.write_sep("-", "tdbench")
        terminalreporter.write_line(message)
