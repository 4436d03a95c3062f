"""ONNX export through each framework, the cross-framework verifier, and conversion between frameworks."""

from .convert import Conversion, convert
from .onnx import export_onnx
from .verify import Comparison, Report, verify

__all__ = ["export_onnx", "verify", "Report", "Comparison", "convert", "Conversion"]
