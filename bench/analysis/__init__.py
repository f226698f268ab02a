"""What is computed from result files: intervals and tests on plain block lists (stats), the tables
derived on every save (derived: comparison, td-tax, onnx, memory comparison) and the saves that write
them (save), Keras/torch pairs across runs (pairs), FLOPs (flops), scaling fits (scaling), figures
(plots), the README's and report's generated text and tables (generated_text, result_tables), what "equal"
means (tolerances), parity measurement (parity).
"""
