"""pytest wiring for the benchmark suite: options, one parameter per case, result files.

This file imports no framework at module level: threads and the Keras
backend are fixed in pytest_configure, before any test module loads one.
"""

from __future__ import annotations

import pytest

from bench import runtime
from bench.cases import all_cases
from bench.options import add_pytest_options, default_keras_backend
from bench.session import BenchSession

SESSION = pytest.StashKey[BenchSession]()


def pytest_addoption(parser):
    add_pytest_options(parser)


def pytest_configure(config):
    option = config.option
    threads = option.tdbench_threads or runtime.available_cores()
    backend = option.tdbench_keras_backend or default_keras_backend()
    runtime.configure(threads, backend)
    results_dir = config.rootpath / option.tdbench_results_dir
    config.stash[SESSION] = BenchSession(option.tdbench_profile, threads, backend, results_dir)


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames:
        option = metafunc.config.option
        cases = all_cases(option.tdbench_profile, option.tdbench_compile)
        metafunc.parametrize("case", cases, ids=[c.id for c in cases])


@pytest.fixture(scope="session")
def bench_session(request) -> BenchSession:
    return request.config.stash[SESSION]


def pytest_sessionfinish(session, exitstatus):
    # Interrupted, crashed or misused runs keep the previous files as they were.
    if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        session.config.stash[SESSION].save()


def pytest_terminal_summary(terminalreporter, config):
    message = config.stash[SESSION].summary()
    if message:
        terminalreporter.write_sep("-", "tdbench")
        terminalreporter.write_line(message)
