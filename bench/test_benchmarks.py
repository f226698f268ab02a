"""The benchmark suite: one test per case of bench/cases.py (`pytest bench/ --benchmark-only`)."""


def test_case(benchmark, case, bench_session):
    bench_session.run(benchmark, case)
