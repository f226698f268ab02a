import os

import pytest

# Before any test module imports TensorFlow: keep its start-up chatter out of the logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="module")
def references():
    """The harness's per-problem references (bench/suite/harness.py), built once per test module."""
    from bench.suite.harness import References

    return References()
