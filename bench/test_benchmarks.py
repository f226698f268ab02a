"""The benchmark suite: one test per case of bench/suite/cases.py (`pytest bench/ --benchmark-only`)."""

from bench.suite.session import noise_floor_workload


def test_case(benchmark, case, step, bench_session):
    """Step 0 prepares the case (build, parity proof, calibration), steps 1..--blocks time its blocks."""
    bench_session.run(benchmark, case, step)


def test_noise_floor(benchmark, bench_session):
    """A fixed pure-Python workload under the same settings: its spread is the machine's, not a framework's."""
    benchmark.group = "machine noise floor"
    benchmark(noise_floor_workload)
    bench_session.record_noise_floor(benchmark)
