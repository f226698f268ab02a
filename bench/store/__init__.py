"""The result files: their columns and merge (results), safe writes (storage), checks before any
timing (validate), raw rounds in pytest-benchmark's JSON (raw), DataFrame views (frames), the
run-to-run noise model file (noise), one machine per result set (machine), units, and the one
table writer for Markdown and plain text (markdown).
"""
