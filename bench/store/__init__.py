"""The result files, lowest room of bench/: what a record is (schema: columns, file names, the case and
problem keys; imports nothing above it), one file written atomically (files), sets of files written as
one (storage) under the directory's lock (lock), checks before any timing (validate), benchmarks.csv
merged and read back (results), raw rounds in pytest-benchmark's JSON (raw), DataFrame views
(dataframes), the run-to-run noise model file (noise), one machine per result set (machine, layout),
command files merged by group (command_rows), units, and the one table writer (markdown).
"""
