"""A region made only of ops computes in declared order in every backend (no transposes), and a Keras model
using ops (``keras.ops`` on the functional graph, no Lambda) saves as ``.keras`` and reloads with safe_mode."""

import numpy as np
import pytest
from siblings import sibling

from twinnet import ir
from twinnet.backends import emit, to_keras
from twinnet.ir import ops as O


def attention_scores() -> ir.Model:
    """Scaled, masked attention written with ops: heads split by View, scores by MatMul, softmax over keys."""
    x = ir.Input((6, 8), layout="NTC", name="x")
    mask = ir.Input((6,), layout="NS", dtype="bool", name="mask")
    q = O.View((6, 2, 4), "NTAC")(x)
    k = O.View((6, 2, 4), "NSAC")(x)
    scores = O.MatMul()([O.Transpose("NATC")(q), O.Transpose("NACS")(k)])  # NATS
    scores = O.Binary("mul", scalar=0.5)(scores)
    scores = O.Where(y=-1e9)([mask, scores])
    weights = O.Softmax("S")(scores)
    out = O.Reduce("mean", "A")(O.Binary("add")([weights, O.Reduce("max", "TS", keepdims=True)(scores)]))
    return ir.Model([x, mask], out, name="scores")


def program(model, backend: str):
    """The lowered program of ``model`` for ``backend``."""
    from twinnet.backends.keras import lower as keras_lower
    from twinnet.backends.onnx import TABLE, OnnxLowering
    from twinnet.backends.torch import lower as torch_lower

    if backend == "onnx":
        return OnnxLowering(model, TABLE).lower()
    return {"keras": keras_lower, "torch": torch_lower}[backend](model)


@pytest.mark.parametrize("backend", ["keras", "torch", "onnx"])
def test_op_region_has_no_transposes_beyond_the_ones_asked_for(backend):
    program_ = program(attention_scores(), backend)
    # The two Transpose ops move data once each (MatMul reads positions); nothing else moves.
    assert program_.transposes == 2, "\n".join(program_.body)


def test_elementwise_region_is_transpose_free():
    x = ir.Input((9, 10, 3), layout="NHWC", name="x")
    y = O.Binary("sub")([O.Unary("exp")(x), O.Reduce("mean", "C", keepdims=True)(x)])
    model = ir.Model(x, O.Softmax("C")(y), name="ew")
    for backend in ("keras", "torch", "onnx"):
        assert program(model, backend).transposes == 0, backend


def test_keras_model_with_ops_saves_and_reloads_safely(tmp_path):
    import keras

    from twinnet.exporters.onnx import example_inputs

    model = attention_scores().initialize(0)
    source = emit(model, "keras")
    assert "keras.ops.matmul" in source and "Lambda" not in source
    km = to_keras(model)
    km.save(tmp_path / "case.keras")
    again = keras.models.load_model(tmp_path / "case.keras", safe_mode=True)
    xs = example_inputs(model, batch=3)
    np.testing.assert_array_equal(np.asarray(km(xs)), np.asarray(again(xs)))
    # The emitted source builds the same model
    namespace: dict = {}
    exec(compile(source, "scores_keras.py", "exec"), namespace)
    built = namespace["build_scores"]()
    np.testing.assert_allclose(np.asarray(built(xs)), np.asarray(km(xs)), atol=1e-5, rtol=1e-4)


def every_family() -> ir.Model:
    """One model touching each op family, numbers of every sign and size included (for the source style)."""
    x = ir.Input((6, 4), name="x")
    y = O.Binary("mul")([O.Normalize("C", rms=True)(x), O.Learned((4,), "NC", init="ones")(x)])
    y = O.Binary("pow", scalar=2.0)(O.Binary("add", scalar=-0.25)(y))
    y = O.Clip(-1e20, 3.5)(O.Binary("sub", scalar=1.0, scalar_first=True)(y))
    y = O.ScaledDotProductAttention(causal=True)([O.View((2, 6, 2), "NATE")(y)] * 3)
    y = O.Roll("T", -2)(O.Take("T", (1, 2, 5))(O.Pad("T", ((1, 1),), value=-0.5)(y)))
    y = O.Reduce("var", "TE", correction=1)(O.Tile("E", (2,))(O.Softmax("E", log=True)(y)))
    ids = O.Cast("float32")(O.Positions("T")(x))
    return ir.Model(x, [y, O.Where(y=-1e9)([O.Binary("gt", scalar=2)(ids), ids])], name="families").initialize(0)


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_emitted_op_sources_pass_ruff(tmp_path, framework):
    style = sibling("test_style.py")
    (tmp_path / "families.py").write_text(emit(every_family(), framework))
    found = style.problems(tmp_path, "--config", style.CONFIG)
    assert not found, style.report(found)


def test_every_family_agrees_across_frameworks():
    from twinnet.exporters import verify

    report = verify(every_family())
    assert report.ok, "\n" + report.table()
