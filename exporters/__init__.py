"""ONNX export through each framework, and the cross-framework verifier."""
from .onnx import export_onnx
from .verify import Comparison, Report, verify

__all__ = ["export_onnx", "verify", "Report", "Comparison"]
