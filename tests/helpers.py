"""Helpers the test modules share (fixtures live in conftest.py)."""

from bench.cases import all_cases


def case_of(case_id: str, compile: str = "off"):
    """The seed profile's CPU case with this id (bench/cases.py is the one registry)."""
    (case,) = [c for c in all_cases("seed", compile, devices=("cpu",)) if c.id == case_id]
    return case
