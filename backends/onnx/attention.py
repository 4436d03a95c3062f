"""ONNX lowering of MultiHeadAttention (placeholder until composed)."""
TABLE = {}
