"""The pytest suite's machinery: which cases exist (cases), what happens to one case before and after
pytest-benchmark times it (harness), one session's blocks and rows (session), threads and the Keras
backend (runtime), the suite's options (options), the machine and versions a run records
(environment), the machine's GEMM peak (peak), and the suite run once per backend in its own
process (backend_processes).
"""
