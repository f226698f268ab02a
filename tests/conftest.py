import hashlib
import os
from pathlib import Path

import pytest

COMMITTED_RESULTS = Path(__file__).resolve().parents[1] / "results"

# Before any test module imports TensorFlow: keep its start-up chatter out of the logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Before any test imports Ray: every local cluster a test starts stays on loopback, its processes'
# HTTP included (bench/cluster/connect.py LOOPBACK_ONLY says what and why).
from bench.cluster.connect import LOOPBACK_ONLY  # noqa: E402  (no Ray import: that module loads Ray on connect)

os.environ.update(LOOPBACK_ONLY)

# A plain `pytest tests/` leaves out the tests marked slow (pyproject.toml says what they start) and says so;
# --run-slow runs them too (the README's and CI's command), `-m slow` only them, and a test named by its id runs.
SLOW_LEFT_OUT = pytest.StashKey[int]()


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true",
                     help="also run the tests marked slow (a timed pytest process, a framework in a subprocess, a "
                          "local Ray cluster); `-m slow` runs only them")


def _leaves_slow_out(config) -> bool:
    """No --run-slow, no -m expression of the user's own, and no test named by its id (path::name)."""
    return not (config.getoption("--run-slow") or config.getoption("markexpr") or any("::" in a for a in config.args))


def pytest_collection_modifyitems(config, items):
    if not _leaves_slow_out(config):
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        items[:] = [item for item in items if not item.get_closest_marker("slow")]
        config.hook.pytest_deselected(items=slow)
        config.stash[SLOW_LEFT_OUT] = len(slow)


def pytest_terminal_summary(terminalreporter, config):
    left_out = config.stash.get(SLOW_LEFT_OUT, 0)
    if left_out:
        terminalreporter.write_line(f"{left_out} slow test(s) deselected: `--run-slow` runs them too, "
                                    "`-m slow` only them")


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


@pytest.fixture(scope="session", autouse=True)
def committed_results_untouched():
    """No test writes into the committed results/: not a byte changed, no file or machine directory added."""
    before = _digests(COMMITTED_RESULTS)
    yield
    after = _digests(COMMITTED_RESULTS)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"tests changed the committed results/: {', '.join(changed[:5])}"


@pytest.fixture(scope="module")
def references():
    """The harness's per-problem references (bench/suite/harness.py), built once per test module."""
    from bench.suite.harness import References

    return References()


# One small timed run of the suite, as a user starts it (a `pytest bench/` process of its own): tests
# of the timed path read its output and files instead of each starting a process of their own.
# Seed size, every many_to_one case (Keras, torch and ONNX Runtime, train and infer, CPU and CUDA)
# and one_to_one's CUDA train cases (on a machine without a GPU, cases that skip in every block).
SMALL_RUN_K = "many_to_one or (one_to_one and train and cuda and not onnxruntime)"
SMALL_RUN_BLOCKS = 3


def small_run_cases() -> list:
    """The registry's cases that SMALL_RUN_K selects (the seed profile, compile off)."""
    from bench.suite.cases import all_cases

    return [c for c in all_cases("seed", "off") if c.topology == "many_to_one"
            or (c.topology == "one_to_one" and c.mode == "train" and c.device == "cuda" and c.framework != "onnxruntime")]


@pytest.fixture(scope="session")
def small_timed_run(tmp_path_factory):
    """(done: the finished process, results_dir, cases, blocks) of one small timed `pytest bench/` run."""
    import subprocess
    import sys
    from types import SimpleNamespace

    results_dir = tmp_path_factory.mktemp("small_timed_run")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "bench/", "-p", "no:cacheprovider", "--benchmark-only", "-v", "-rs",
         "--profile", "seed", "-k", SMALL_RUN_K, "--blocks", str(SMALL_RUN_BLOCKS),
         "--benchmark-max-time=0.03", "--benchmark-min-rounds=3", "--results-dir", str(results_dir)],
        capture_output=True, text=True, timeout=600, cwd=Path(__file__).resolve().parents[1],
    )
    return SimpleNamespace(done=done, results_dir=results_dir, cases=small_run_cases(), blocks=SMALL_RUN_BLOCKS)
