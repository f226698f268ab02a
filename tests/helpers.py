"""Helpers the test modules share (fixtures live in conftest.py)."""

from bench.suite.cases import all_cases
from bench.store.schema import BENCHMARK_COLUMNS

# What each framework's row names as its compiler without compile (a label, not checked here).
_COMPILERS = {"keras": "tf.function", "torch": "eager"}


def case_of(case_id: str, compile: str = "off"):
    """The seed profile's CPU case with this id (bench/suite/cases.py is the one registry)."""
    (case,) = [c for c in all_cases("seed", compile, devices=("cpu",)) if c.id == case_id]
    return case


def benchmark_row(framework="keras", head="timedistributed", median=0.002, keras_backend="tensorflow", **fields) -> dict:
    """One benchmarks.csv row, every column present: a timed many_to_many train case on the CPU
    (quick profile, mid size, one thread) unless `fields` say otherwise; unset columns are None."""
    row = dict.fromkeys(BENCHMARK_COLUMNS)
    row.update(
        topology="many_to_many", framework=framework, head=head, mode="train", device="cpu",
        keras_backend=keras_backend, backend=keras_backend if framework == "keras" else framework,
        profile="quick", compile="off", threads=1, size="mid", batch=32, timesteps=50, features=16,
        units=64, outputs=1, params=146, median_s=median, spread=0.05, status="ok",
        max_abs_diff=1e-8, compiler=_COMPILERS.get(framework, framework), kernel="k",
    )
    row.update(fields)
    return row


def raw_entry(median=0.123, **fields) -> dict:
    """The raw rounds (bench/store/raw.py entry) of benchmark_row(**fields): one block of two rounds of `median`."""
    from bench.store import raw

    return raw.entry("case", "group", benchmark_row(median=median, **fields), {"block_rounds": [2]},
                     {"data": [median, median]})
