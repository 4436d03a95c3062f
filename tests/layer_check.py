"""``check_layer``: everything one layer must satisfy, in one call.

Shape inference, JSON and weights round trips, parameter counts in both
frameworks, weights back from each backend (``load_weights_from``, bit for bit), and
Keras vs torch vs onnxruntime (the ONNX files of both frameworks and the one
written straight from the IR) vs Keras on its torch and jax backends
(``keras_backends``, without TensorFlow) numerics at two batch sizes (and two
sequence lengths where the length is symbolic), on seeded random weights that
exercise every parameter.
"""

from __future__ import annotations

import keras_backends
import numpy as np
from gaps import known_gap

from twinnet import ir
from twinnet.exporters import verify
from twinnet.exporters.onnx import example_inputs
from twinnet.exporters.targets import TARGETS
from twinnet.exporters.verify import ALL_PATHS as PATHS  # every path, the exporters' ONNX files too

IMAGE = {"NHWC": (9, 10, 3), "NCHW": (3, 9, 10)}
SIGNAL = {"NWC": (11, 3), "NCW": (3, 11)}
SEQUENCE = {"NTC": (6, 4), "TNC": (6, 4)}


def image(layout: str = "NHWC", channels: int = 3, h: int = 9, w: int = 10) -> dict:
    shape = {"NHWC": (h, w, channels), "NCHW": (channels, h, w)}[layout]
    return {"shape": shape, "layout": layout}


def signal(layout: str = "NWC", channels: int = 3, n: int = 11) -> dict:
    return {"shape": (n, channels) if layout == "NWC" else (channels, n), "layout": layout}


def sequence(layout: str = "NTC", features: int = 4, steps: int | None = 6) -> dict:
    return {"shape": (steps, features), "layout": layout}


def tokens(layout: str = "NT", steps: int | None = 7) -> dict:
    return {"shape": (steps,), "layout": layout, "dtype": "int32"}


def torch_weight_count(module) -> int:
    """What the IR counts, counted on a torch module: parameters plus BatchNorm running statistics
    (Keras counts those as non-trainable weights; torch keeps them as buffers), less the second
    recurrent bias of nn.LSTM / nn.RNN (torch has b_ih and b_hh where Keras has one bias; twinnet
    keeps b_hh at zero, see docs/limits.md)."""
    import torch

    count = sum(p.numel() for p in module.parameters())
    for sub in module.modules():
        if isinstance(sub, torch.nn.modules.batchnorm._BatchNorm):
            count += sub.running_mean.numel() + sub.running_var.numel()
        if isinstance(sub, (torch.nn.LSTM, torch.nn.RNN)):
            count -= sum(p.numel() for n, p in sub.named_parameters() if n.startswith("bias_hh"))
    return count


def check_layer(
    layer,
    inputs,
    *,
    seed: int = 0,
    expect_shape=None,
    paths=PATHS,
    tmp_path=None,
    torch_extra: int = 0,
    arrange=None,
    positive: bool = False,
) -> ir.Model:
    """Check ``layer`` applied to inputs described by ``ir.Input`` keyword dicts.

    ``torch_extra``: parameters the torch module has beyond the IR's, where torch's layer cannot
    leave them out (documented per case).
    ``arrange``: turns the list of model inputs into the layer's argument, where one input is
    used twice (self-attention: ``lambda xs: [xs[0], xs[0]]``).
    ``positive``: float inputs drawn from |N(0, 1)| + 0.5, for ops defined on positive numbers
    (``sqrt``, ``log``, ``pow``); the other inputs as ``verify`` makes them (bool inputs: fair coins).
    """
    xs = [ir.Input(**spec) for spec in (inputs if isinstance(inputs, list) else [inputs])]
    y = layer(arrange(xs) if arrange else xs if len(xs) > 1 else xs[0])
    if expect_shape is not None:
        assert y.shape == tuple(expect_shape), f"inferred {y.shape}, expected {expect_shape}"
    model = ir.Model(xs, y, name="case").randomize(seed)

    # JSON round trip: the same architecture, the same layer configuration
    again = ir.from_json(ir.to_json(model))
    assert ir.to_dict(again) == ir.to_dict(model)
    assert again.layers[-1].layer.config() == layer.config()
    assert again.outputs[0].spec == y.spec
    if tmp_path is not None:
        loaded = ir.load(ir.save(model, tmp_path / "case.safetensors"))
        assert all(np.array_equal(loaded.weights[k], v) for k, v in model.weights.items())

    # parameter counts agree with both frameworks
    from twinnet.backends import load_weights_from, to_keras, to_onnx, to_torch

    compiled = {"keras": to_keras(model), "torch": to_torch(model), "onnx": to_onnx(model)}
    assert compiled["keras"].count_params() == model.count_params()
    assert torch_weight_count(compiled["torch"]) == model.count_params() + torch_extra

    # weights back: the inverse of each compile-time transfer gives the IR weights back bit for bit
    for framework, net in compiled.items():
        try:
            back = load_weights_from(model, net)
        except ir.UnsupportedError as e:
            if framework == "onnx" and isinstance(layer, ir.layers.BatchNorm) and "computed from the weights" in str(e):
                assert known_gap("onnx-weights-back-folded-batchnorm")  # listed: a BatchNorm ONNX folds, no inverse
                continue
            raise
        assert back.weights.keys() == model.weights.keys()
        for key, value in model.weights.items():
            assert back.weights[key].dtype == value.dtype, f"{framework}: {key} came back as {back.weights[key].dtype}"
            assert np.array_equal(back.weights[key], value), f"{framework}: {key} did not come back exactly"

    # Every layer is also exported straight from the IR (backends.onnx) and run in onnxruntime.
    make = positive_inputs(model) if positive else None
    # and compiled by to_keras under Keras's other backends (torch, jax), each without TensorFlow, except where
    # Keras itself gets the model wrong on one (a listed gap, which must still hold)
    gaps = keras_backends.gaps_of(model)
    others = keras_backends.references(model, [b for b in keras_backends.BACKENDS if b not in gaps])
    report = verify(model, paths=tuple(dict.fromkeys((*paths, "onnx-ir"))), make_inputs=make, references=others)
    assert report.ok, "\n" + report.table()
    if gaps:
        xs = make(2, 5, 0) if make else example_inputs(model, 2, 5, seed=0)
        want = TARGETS["keras"].runner(compiled["keras"], model)(xs)
        for backend, gap in gaps.items():
            assert known_gap(gap) and keras_backends.misses(model, backend, xs, want), f"{gap} no longer holds"
    return model


def positive_inputs(model):
    """``verify``'s ``make_inputs`` with every float input moved to |x| + 0.5."""

    def make(batch, seq, seed):
        xs = example_inputs(model, batch, seq, seed=seed)
        return [np.abs(x) + np.float32(0.5) if x.dtype == np.float32 else x for x in xs]

    return make
