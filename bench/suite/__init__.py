"""The pytest suite's machinery: which cases exist (cases), what happens to one case before and after
pytest-benchmark times it (harness), one session's blocks and rows (session), threads and the Keras
backend (runtime), the suite's options (options), parity tolerances (tolerances), the machine and
versions a run records (environment), and the machine's GEMM peak (peak).
"""
