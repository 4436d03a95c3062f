"""verify: failures are reported per output and pair, NaNs fail, and a divergence is localised."""

import numpy as np
import pytest

from twinnet import ir
from twinnet.backends import torch as torch_backend
from twinnet.exporters import verify
from twinnet.ir import layers as L


def small():
    x = ir.Input((8, 8, 2), name="x")
    h = L.Conv2D(4, 3, padding="same", name="conv")(x)
    h = L.Activation("gelu", name="act")(h)
    h = L.Dense(3, name="head")(L.Flatten(name="flat")(h))
    return ir.Model(x, h, name="small").randomize(0)


def test_report_passes_and_lists_every_pair():
    report = verify(small(), paths=("keras", "torch", "onnx-torch"))
    assert report.ok, report.table()
    pairs = {r.pair for r in report.rows}
    assert pairs == {"keras vs torch", "keras vs onnx-torch", "torch vs onnx-torch"}
    assert {r.batch for r in report.rows} == {1, 3}
    assert report.to_dict()["ok"] is True


def test_a_wrong_lowering_is_caught_and_localised(monkeypatch):
    """Fault injection into our own torch lowering table (the frameworks run for real)."""
    from twinnet.backends.torch.activations import expr

    def wrong_gelu(ctx, node, inputs):  # the classic trap: tanh gelu where the exact one was asked for
        (x,) = inputs
        return ctx.let(node.name, expr("gelu", x.var, approximate=True), node.spec, x.phys, x.feat)

    monkeypatch.setitem(torch_backend.TABLE, L.Activation, wrong_gelu)
    report = verify(small(), paths=("keras", "torch"))
    assert not report.ok
    (fail,) = {(r.output, r.pair) for r in report.failures()}
    assert fail == ("head", "keras vs torch")
    assert report.divergence.startswith("Activation 'act'")
    assert "FAILED" in report.table() and "first diverging layer: Activation 'act'" in report.table()


def test_nan_in_outputs_fails_naming_the_paths():
    model = small()
    x = np.zeros((2, 8, 8, 2), np.float32)
    x[0, 0, 0, 0] = np.nan
    report = verify(model, inputs=[x], paths=("keras", "torch"), localize=False)
    assert not report.ok
    assert report.rows[0].note == "NaN/Inf in the keras and torch path"


def test_sequence_models_are_checked_at_several_lengths():
    x = ir.Input((None,), dtype="int32", name="ids")
    model = ir.Model(x, L.Dense(1)(L.GRU(3)(L.Embedding(20, 4)(x))), name="seq").randomize(0)
    report = verify(model, paths=("torch", "onnx-torch"))
    assert report.ok, report.table()
    assert {(r.batch, r.seq) for r in report.rows} == {(1, 5), (1, 9), (3, 5), (3, 9)}


def test_uninitialised_model_is_refused():
    model = ir.Sequential([L.Dense(2)], input=ir.Input((3,)))
    with pytest.raises(ir.WeightError, match="no weights"):
        verify(model)


def test_make_inputs_makes_every_case_and_is_checked():
    """make_inputs(batch, seq, seed) replaces the seeded random inputs, case by case, and is checked like inputs."""
    made, fed = [], []

    def ones(batch, seq, seed):
        made.append((batch, seed))
        return [np.ones((batch, 8, 8, 2), np.float32)]

    def torch_again(xs):  # a reference path sees the inputs made
        fed.append(xs[0])
        return [run_torch(small(), xs[0])]

    report = verify(small(), paths=("torch",), batch_sizes=(2, 3), make_inputs=ones, references={"again": torch_again})
    assert report.ok, report.table()
    assert made == [(2, 0), (3, 1)] and [x.shape[0] for x in fed] == [2, 3] and all((x == 1).all() for x in fed)
    with pytest.raises(ir.ShapeError, match="shape"):
        verify(small(), paths=("torch",), make_inputs=lambda b, s, seed: [np.ones((b, 8, 7, 2), np.float32)])


def run_torch(model, x):
    import torch

    with torch.no_grad():
        return torch_backend.to_torch(model)(torch.from_numpy(x)).numpy()
