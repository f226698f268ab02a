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
