"""`run --cluster --resume`: what counts as held (no cluster needed: bench/cluster/merge.py is plain Python)."""

import pytest

from bench.cluster import merge
from bench.cluster.units import units


def test_a_problem_is_held_only_when_a_task_of_this_code_finished_it(tmp_path, monkeypatch):
    unit = units("seed", "off", ["torch"], [1], "one_to_one")[0]
    rows = [{"topology": c.topology, "framework": c.framework, "head": c.head, "mode": c.mode, "device": c.device,
             "size": c.size.label, "compile": c.compile, "keras_backend": "torch", "profile": "seed", "threads": "1"}
            for c in unit.cases]
    # the slice's environment names this code (its last merge), and every case has a row
    monkeypatch.setattr(merge, "load_environment", lambda d: {"slices": {merge.slice_of_unit(unit): {"code": "abc1234"}}})
    monkeypatch.setattr(merge, "load_benchmarks", lambda d: rows)
    facts = {"code": "abc1234", "changes": ""}
    # ... but those rows may come from an earlier run of other code: only the task log says this code timed them
    assert not merge.is_held(tmp_path, unit, facts, finished=set())
    assert merge.is_held(tmp_path, unit, facts, finished={(unit.label, "abc1234")})
    assert not merge.is_held(tmp_path, unit, {"code": "abc1234", "changes": "d1"}, finished={(unit.label, "abc1234")})
    monkeypatch.setattr(merge, "load_benchmarks", lambda d: rows[1:])  # a case without its row
    assert not merge.is_held(tmp_path, unit, facts, finished={(unit.label, "abc1234")})


def test_a_slice_records_the_nice_value_it_was_timed_at_and_a_cluster_task_asks_for_0(monkeypatch):
    import ctypes
    import os

    from bench.suite.environment import collect

    assert collect(1, "torch", None)["niceness"] == os.getpriority(os.PRIO_PROCESS, 0)
    task = pytest.importorskip("bench.cluster.task", reason="Ray is not installed (pip install -e \".[ray]\")")
    asked = []
    monkeypatch.setattr(task.os, "setpriority", lambda which, who, value: asked.append((which, who, value)))
    monkeypatch.setattr(ctypes, "CDLL", lambda *a, **k: type("libc", (), {"prctl": staticmethod(lambda *a: 0)})())
    task._in_child()
    assert asked == [(os.PRIO_PROCESS, 0, 0)]
