"""tdbench's harness: the pytest-benchmark suite, result files, reports and the CLI.

Importing this package never imports a framework; see bench/suite/runtime.py.
"""
