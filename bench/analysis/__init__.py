"""What is computed from result files: intervals and tests (stats), Keras/torch pairs (pairs), FLOPs
(flops), scaling fits (scaling), figures (plots), the README's and report's generated text and
tables (prose, result_tables), ONNX Runtime ratios (onnx_compare), parity measurement (parity).
"""
