"""MultiHeadAttention: self and cross attention, masks, both torch paths, both sequence layouts.

Cases marked "custom" cannot be an nn.MultiheadAttention (key_dim * num_heads is
not the query's features, value_dim != key_dim, or an output_shape) and run
through the inlined KerasAttention module instead.
"""

import numpy as np
import pytest
import torch
from layer_check import check_layer, sequence

from twinnet import ir
from twinnet.backends import to_keras, to_torch
from twinnet.exporters.onnx import example_inputs
from twinnet.ir import layers as L


def mask(layout="NT", steps=6) -> dict:
    """A key-padding mask input: one 0/1 float per key position (verify keeps key 0 on)."""
    return {"shape": (steps,), "layout": layout}


def self_attention(xs):
    return [xs[0], xs[0]] + xs[1:]  # query and value are the same tensor; a mask, if any, follows


def MHA(*args, **kwargs):
    return L.MultiHeadAttention(*args, **kwargs)


CASES = {
    # name: (layer, inputs, arrange)
    "self-ntc": (MHA(2, 2), [sequence("NTC")], self_attention),
    "self-tnc": (MHA(2, 2), [sequence("TNC")], self_attention),
    "cross-other-length-and-features": (MHA(2, 2), [sequence("NTC"), sequence("NTC", features=3, steps=5)], None),
    "cross-key-input": (MHA(2, 2), [sequence("TNC"), sequence("TNC", 3, 5), sequence("NTC", 5, 5)], None),
    "custom-key-dim": (MHA(2, 3), [sequence("NTC")], self_attention),
    "custom-value-dim": (MHA(2, 2, value_dim=3), [sequence("TNC"), sequence("TNC", 5, 4)], None),
    "custom-output-shape": (MHA(2, 2, output_shape=5), [sequence("NTC")], self_attention),
    "no-bias": (MHA(2, 2, use_bias=False), [sequence("NTC"), sequence("NTC", 3, 5)], None),
    "custom-no-bias": (MHA(3, 2, use_bias=False), [sequence("TNC")], self_attention),
    "causal": (MHA(2, 2, use_causal_mask=True), [sequence("NTC")], self_attention),
    "padding-mask": (MHA(2, 2), [sequence("NTC"), mask("NT")], self_attention),
    "padding-mask-causal-tnc": (MHA(2, 2, use_causal_mask=True), [sequence("TNC"), mask("TN")], self_attention),
    "custom-cross-padding-mask": (
        MHA(2, 3, value_dim=2),
        [sequence("NTC"), sequence("TNC", 3, 5), mask("NT", 5)],
        None,
    ),
    "dropout": (MHA(2, 2, dropout=0.25), [sequence("NTC")], self_attention),
}


@pytest.mark.parametrize("name", list(CASES))
def test_attention(name, tmp_path):
    layer, inputs, arrange = CASES[name]
    check_layer(layer, inputs, arrange=arrange, tmp_path=tmp_path)


@pytest.mark.parametrize("layout", ["NTC", "TNC"])
def test_attention_symbolic_length(layout):
    other = "TN" if layout == "TNC" else "NT"
    check_layer(
        MHA(2, 2, use_causal_mask=True), [sequence(layout, steps=None), mask(other, steps=None)], arrange=self_attention
    )
    check_layer(MHA(2, 3, value_dim=2), [sequence(layout, steps=4), sequence(layout, 3, steps=None)])


def test_masked_keys_do_not_matter():
    """Changing the value at masked key positions changes nothing, in both frameworks (polarity check);
    unmasking them does change the output (the mask is not ignored)."""
    q, v, m = ir.Input((4, 4), name="q"), ir.Input((6, 3), name="v"), ir.Input((6,), layout="NT", name="m")
    model = ir.Model([q, v, m], MHA(2, 2)([q, v, m]), name="masked").randomize(1)
    xq, xv, _ = example_inputs(model, batch=2)
    keep = np.ones((2, 6), np.float32)
    keep[:, 3:] = 0.0
    changed = xv.copy()
    changed[:, 3:] += 5.0
    km, tm = to_keras(model), to_torch(model)
    for name, run in (
        ("keras", lambda *xs: np.asarray(km(list(xs)))),
        ("torch", lambda *xs: tm(*[torch.from_numpy(x) for x in xs]).detach().numpy()),
    ):
        base = run(xq, xv, keep)
        np.testing.assert_allclose(run(xq, changed, keep), base, atol=1e-5, rtol=1e-4, err_msg=name)
        assert np.abs(run(xq, changed, np.ones_like(keep)) - base).max() > 1e-2, name


def test_native_and_custom_torch_paths():
    """Packed projections when key and value have the query's features, separate ones (kdim/vdim) otherwise;
    the inlined module where nn.MultiheadAttention cannot express the layer."""
    x, v = ir.Input((6, 4)), ir.Input((5, 3))

    def attention(layer, inputs):
        module = to_torch(ir.Model(list({id(t): t for t in inputs}.values()), layer(inputs)).initialize(0))
        found = [m for m in module.modules() if isinstance(m, torch.nn.MultiheadAttention)]
        return (found[0] if found else None), module.twinnet_program.helpers

    packed, helpers = attention(MHA(2, 2), [x, x])
    assert packed.in_proj_weight is not None and packed.q_proj_weight is None and not helpers
    separate, _ = attention(MHA(2, 2), [x, v])
    assert separate.in_proj_weight is None and tuple(separate.k_proj_weight.shape) == (4, 3)
    for layer in (MHA(2, 3), MHA(2, 2, value_dim=3), MHA(2, 2, output_shape=5)):
        none, helpers = attention(layer, [x, x])
        assert none is None and helpers == {"KerasAttention"}


def test_weights_use_keras_names_and_shapes():
    q, v = ir.Input((5, 8)), ir.Input((7, 6))
    specs = {
        k: s.shape
        for k, s in ir.Model([q, v], MHA(2, 3, value_dim=4, output_shape=9, name="att")([q, v])).weight_specs().items()
    }
    assert specs == {
        "att/query/kernel": (8, 2, 3),
        "att/query/bias": (2, 3),
        "att/key/kernel": (6, 2, 3),
        "att/key/bias": (2, 3),
        "att/value/kernel": (6, 2, 4),
        "att/value/bias": (2, 4),
        "att/attention_output/kernel": (2, 4, 9),
        "att/attention_output/bias": (9,),
    }


@pytest.mark.parametrize(
    "build, error, words",
    [
        (lambda q, v, m: MHA(2, 2)([q]), ir.ShapeError, "two or more inputs"),
        (lambda q, v, m: MHA(2, 2)([q, v, v, v, v]), ir.ShapeError, "got 5 inputs"),
        (lambda q, v, m: MHA(2, 2)([q, m, v]), ir.LayoutError, "only the last input may be a mask"),
        (lambda q, v, m: MHA(2, 2)([q, m]), ir.ShapeError, "query and a value before the mask"),
        (lambda q, v, m: MHA(2, 2)([q, v, q]), ir.ShapeError, "same length"),
        (lambda q, v, m: MHA(2, 2)([q, q, m]), ir.ShapeError, "key positions"),
        (lambda q, v, m: MHA(2, 2, use_causal_mask=True)([q, v]), ir.ShapeError, "use_causal_mask"),
        (lambda q, v, m: MHA(2, 2)([ir.Input((3, 4, 2)), v]), ir.LayoutError, "axes N, T, C"),
    ],
)
def test_bad_inputs_name_the_layer(build, error, words):
    q, v, m = ir.Input((6, 4)), ir.Input((5, 3)), ir.Input((5,), layout="NT")
    with pytest.raises(error, match=words) as info:
        build(q, v, m)
    assert "MultiHeadAttention" in str(info.value)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"num_heads": 0, "key_dim": 2}, "num_heads"),
        ({"num_heads": 2, "key_dim": 2.5}, "key_dim"),
        ({"num_heads": 2, "key_dim": 2, "value_dim": -1}, "value_dim"),
        ({"num_heads": 2, "key_dim": 2, "dropout": 1.0}, "dropout"),
        ({"num_heads": 2, "key_dim": 2, "output_shape": (4, 5)}, "output_shape"),
        ({"num_heads": 2, "key_dim": 2, "use_causal_mask": 1}, "use_causal_mask"),
    ],
)
def test_bad_arguments(kwargs, words):
    with pytest.raises(ir.ConfigError, match=words):
        MHA(**kwargs)


def _masked_model(heads=2, key_dim=3) -> ir.Model:
    x, m = ir.Input((None, 4), layout="TNC", name="x"), ir.Input((None,), layout="TN", name="keep")
    y = MHA(heads, key_dim, use_causal_mask=True, name="att")([x, x, m])
    return ir.Model([x, m], y, name="masked_attention").randomize(2)


def test_emitted_torch_with_inlined_attention_runs_standalone(tmp_path):
    from convert_check import run_standalone

    from twinnet.backends import emit

    model = _masked_model()
    emit(model, "torch", out_dir=tmp_path)
    xs = example_inputs(model, batch=3, seq=5)
    np.save(tmp_path / "x.npy", xs[0])
    np.save(tmp_path / "m.npy", xs[1])
    got = run_standalone(
        tmp_path,
        (
            "import numpy as np, torch, masked_attention as g\n"
            "net = g.load_weights(g.MaskedAttention(), 'masked_attention.safetensors').eval()\n"
            "x, m = (torch.from_numpy(np.load(f)) for f in ('x.npy', 'm.npy'))\n"
            "np.save('out.npy', net(x, m).detach().numpy())\n"
        ),
    )
    want = to_torch(model)(*[torch.from_numpy(x) for x in xs]).detach().numpy()
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)


def test_keras_model_with_mask_saves_and_reloads(tmp_path):
    import keras

    model = _masked_model(2, 2)
    km = to_keras(model)
    km.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    x, m = example_inputs(model, batch=2, seq=4)
    xs = [x.transpose(1, 0, 2), m.T]  # Keras takes the batch axis first
    np.testing.assert_array_equal(np.asarray(again(xs)), np.asarray(km(xs)))


@pytest.mark.parametrize("key_dim", [2, 3])  # nn.MultiheadAttention(batch_first=False), KerasAttention
def test_sequence_first_needs_no_transpose_in_torch(key_dim):
    x, m = ir.Input((6, 4), layout="TNC"), ir.Input((6,), layout="NT")
    module = to_torch(ir.Model([x, m], MHA(2, key_dim, use_causal_mask=True)([x, x, m])).initialize(0))
    assert module.twinnet_program.transposes == 0
