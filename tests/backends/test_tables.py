"""Every IR layer kind (the ops of ``ir/ops/`` included: they are layer kinds too) has a lowering in every
backend (the emitters render those same lowerings; the ONNX
backend writes the file of ``export_onnx(via="ir")``)."""

import pytest

from twinnet.ir.layers import LAYERS


def tables():
    from twinnet.backends.keras import TABLE as keras_table
    from twinnet.backends.onnx import TABLE as onnx_table
    from twinnet.backends.torch import TABLE as torch_table

    return {"torch": torch_table, "keras": keras_table, "onnx": onnx_table}


@pytest.mark.parametrize("backend", ["torch", "keras", "onnx"])
def test_every_layer_has_a_lowering(backend):
    table = tables()[backend]
    missing = sorted(name for name, cls in LAYERS.items() if cls not in table)
    assert not missing, f"{backend} has no lowering for {missing}"
    assert all(isinstance(k, type) for k in table), "tables are keyed by IR class, never by string"


def test_every_layer_kind_is_tested():
    """Each kind appears in a parametrized layer test (one line per new layer), each op in an op test."""
    from pathlib import Path

    from twinnet.ir.ops import OPS

    tests = Path(__file__).resolve().parents[1]
    text = "".join(p.read_text() for p in tests.glob("ir/layers/test_*.py"))
    ops_text = "".join(p.read_text() for p in tests.glob("ir/ops/test_*.py"))
    untested = sorted(name for name in LAYERS if name not in OPS and f"L.{name}(" not in text)
    untested += sorted(name for name in OPS if f"O.{name}(" not in ops_text)
    assert not untested, f"no layer test mentions {untested}"
