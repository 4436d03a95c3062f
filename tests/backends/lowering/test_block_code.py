"""Blocks (``ir.block``): marked in the IR, kept in files, emitted once per kind as a torch class / Keras function."""

import numpy as np
import pytest
from convert_check import run_standalone

from twinnet import ir
from twinnet.backends import emit, to_keras, to_torch
from twinnet.ir import layers as L
from twinnet.ir import ops as O


def resnet(name="resnetish", widths=(4, 4, 4)) -> ir.Model:
    """A stem and three residual blocks (``layer1_<i>``), then a small head."""
    x = ir.Input((9, 10, 3), name="image")
    h = L.Conv2D(widths[0], 3, padding="same", name="stem")(x)
    for i, width in enumerate(widths):
        p = f"layer1_{i}"
        with ir.block("BasicBlock", p):
            if h.shape[-1] != width:
                h = L.Conv2D(width, 1, name=f"{p}_proj")(h)
            y = L.Conv2D(width, 3, padding="same", activation="relu", name=f"{p}_conv1")(h)
            y = L.BatchNorm(name=f"{p}_bn")(L.Conv2D(width, 3, padding="same", name=f"{p}_conv2")(y))
            h = L.ReLU(name=f"{p}_relu")(L.Add(name=f"{p}_add")([h, y]))
    return ir.Model(x, L.Dense(3, name="head")(L.GlobalAvgPool2D(name="pool")(h)), name=name).randomize(0)


def transformer() -> ir.Model:
    """Two post-norm encoder blocks (attention + MLP, residual connections) on a (6, 8) sequence."""
    x = ir.Input((6, 8), name="tokens")
    h = L.Dense(8, name="embed")(x)
    for i in range(2):
        with ir.block("EncoderBlock", f"encoder_{i}"):
            a = L.MultiHeadAttention(num_heads=2, key_dim=4, name=f"encoder_{i}_attn")([h, h])
            h = L.LayerNorm(name=f"encoder_{i}_norm1")(L.Add(name=f"encoder_{i}_res1")([h, a]))
            m = L.Dense(8, name=f"encoder_{i}_fc2")(L.Dense(16, activation="relu", name=f"encoder_{i}_fc1")(h))
            h = L.LayerNorm(name=f"encoder_{i}_norm2")(L.Add(name=f"encoder_{i}_res2")([h, m]))
    return ir.Model(x, L.Dense(2, name="head")(L.GlobalAvgPool1D(name="pool")(h)), name="encoder").randomize(0)


MODELS = {
    "resnet": (resnet, "BasicBlock", "basic_block", 3, (2, 9, 10, 3)),
    "transformer": (transformer, "EncoderBlock", "encoder_block", 2, (2, 6, 8)),
}


def _x(shape):
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


def _torch_out(model, x):
    import torch

    return to_torch(model)(torch.from_numpy(x)).detach().numpy()


@pytest.mark.parametrize("which", MODELS)
def test_emitted_torch_has_one_class_per_block_and_runs_alone(which, tmp_path):
    build, cls, _, count, shape = MODELS[which]
    model = build()
    code = emit(model, "torch", out_dir=tmp_path)
    assert code.count(f"class {cls}(nn.Module)") == 1
    assert code.count(f" = {cls}()") == count
    assert "emitted inline" not in code
    x = _x(shape)
    np.save(tmp_path / "x.npy", x)
    top = "Resnetish" if which == "resnet" else "Encoder"
    got = run_standalone(
        tmp_path,
        (
            f"import numpy as np, torch, {model.name} as m\n"
            f"net = m.load_weights(m.{top}(), '{model.name}.safetensors').eval()\n"
            "np.save('out.npy', net(torch.from_numpy(np.load('x.npy'))).detach().numpy())\n"
        ),
        "torch",
    )
    np.testing.assert_allclose(got, _torch_out(model, x), atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(got, np.asarray(to_keras(model)(x)), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("which", MODELS)
def test_emitted_keras_has_one_function_per_block_and_runs_alone(which, tmp_path):
    build, _, fn, count, shape = MODELS[which]
    model = build()
    code = emit(model, "keras", out_dir=tmp_path)
    assert code.count(f"def {fn}(") == 1
    assert code.count(f"= {fn}(") == count
    assert "emitted inline" not in code
    x = _x(shape)
    np.save(tmp_path / "x.npy", x)
    got = run_standalone(
        tmp_path,
        (
            f"import numpy as np, {model.name} as m\n"
            f"net = m.build_{model.name}()\nnet.load_weights('{model.name}.weights.h5')\n"
            "np.save('out.npy', np.asarray(net(np.load('x.npy'))))\n"
        ),
        "keras",
    )
    np.testing.assert_allclose(got, np.asarray(to_keras(model)(x)), atol=1e-5, rtol=1e-4)


def test_live_modules_use_the_block_classes():
    """to_torch runs the emitted source, so the live module nests too; Keras keeps the IR's layer names."""
    model = resnet()
    tm = to_torch(model)
    assert [type(m).__name__ for _, m in tm.named_children()].count("BasicBlock") == 3
    state = tm.state_dict()
    assert "layer1_1.conv1.weight" in state and "layer1_2.bn.running_var" in state
    assert not any(k.startswith("layer1_1_") for k in state)
    km = to_keras(model)
    assert {n.name for n in model.layers} == {layer.name for layer in km.layers if layer.name != "image"}
    x = _x((2, 9, 10, 3))
    np.testing.assert_allclose(_torch_out(model, x), np.asarray(km(x)), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("build", ["resnet", "stages"])
def test_blocks_verify_through_onnx(build):
    """Also with literal parameters: ``stages`` reshapes by ``self.conv1_in_channels`` in ``forward``."""
    from twinnet.exporters import verify

    report = verify(globals()[build](), paths="all")
    assert report.ok, report.table()


def test_unnamed_blocks_and_layers_are_named_after_the_instance():
    x = ir.Input((5,), name="x")
    h = x
    for _ in range(2):
        with ir.block("Mlp"):
            h = L.Dense(5, activation="relu")(h)
    model = ir.Model(x, h).initialize(0)
    assert [(n.name, n.block) for n in model.layers] == [
        ("mlp_dense", ("Mlp", "mlp")),
        ("mlp_1_dense", ("Mlp", "mlp_1")),
    ]
    code = emit(model, "torch")
    assert "self.mlp = Mlp()" in code and "self.dense = nn.Linear(5, 5)" in code
    clash = ir.Model(model.inputs, model.outputs, name="mlp").initialize(0)  # the model's own class is Mlp
    code = emit(clash, "torch")
    assert "class MlpBlock(nn.Module)" in code and "class Mlp(nn.Module)" in code
    assert [type(m).__name__ for m in to_torch(clash).children()] == ["MlpBlock", "MlpBlock"]


def test_submodules_named_without_the_instance_prefix_load_into_each_instance():
    """torchvision's swin_v2: a learned tensor each block reads is named ``exp``, ``exp_1``, ... with no
    instance prefix, so the instances' own local names differ; every instance's weights load under the
    names of the class, which is written from the first instance."""
    x = ir.Input((5,), name="x")
    h = x
    for i in range(3):
        with ir.block("Gated", f"gated_{i}"):
            g = L.Dense(5, activation="sigmoid", name="gate" if i == 0 else f"gate_{i}")(h)
            h = L.Multiply(name=f"gated_{i}_mul")([L.Dense(5, name=f"gated_{i}_fc")(h), g])
    model = ir.Model(x, h, name="gates").randomize(0)
    code = emit(model, "torch")
    assert code.count("class Gated(nn.Module)") == 1 and code.count(" = Gated()") == 3
    x = _x((2, 5))
    np.testing.assert_allclose(_torch_out(model, x), np.asarray(to_keras(model)(x)), atol=1e-5, rtol=1e-4)


def test_instances_that_differ_in_channel_counts_share_one_class_with_a_parameter():
    """Same layers and configs, but the second instance's conv sees 5 channels: the in-channels become
    ``Pair.__init__``'s parameter (named after its first use), the rest stays literal."""
    x = ir.Input((9, 10, 3), name="image")
    h = x
    for i, ch in enumerate((3, 5)):
        h = L.Conv2D(ch, 1, name=f"pre{i}")(h)
        with ir.block("Pair", f"pair_{i}"):
            h = L.ReLU(name=f"pair_{i}_relu")(L.Conv2D(4, 3, padding="same", name=f"pair_{i}_conv")(h))
    model = ir.Model(x, h, name="pairs").randomize(0)
    code = emit(model, "torch")
    assert code.count("class Pair(nn.Module)") == 1 and "emitted inline" not in code
    assert "def __init__(self, conv_in_channels):" in code
    assert "self.conv = nn.Conv2d(conv_in_channels, 4, kernel_size=(3, 3), padding=(1, 1))" in code
    assert "self.pair_0 = Pair(3)" in code and "self.pair_1 = Pair(5)" in code
    assert "pair_1.conv.weight" in to_torch(model).state_dict()
    x = _x((2, 9, 10, 3))
    np.testing.assert_allclose(_torch_out(model, x), np.asarray(to_keras(model)(x)), atol=1e-5, rtol=1e-4)
    assert "def pair(x, name):" in emit(model, "keras")  # Keras layers take any channel count: nothing differs


def stages() -> ir.Model:
    """Two kinds of one structure (widths 4 and 6), a Reshape in each: one class / function for both."""
    x = ir.Input((9, 10, 3), name="image")
    h = L.Conv2D(4, 3, padding="same", name="stem")(x)
    for kind, name, width in (("Stage1Unit", "s1_0", 4), ("Stage1Unit", "s1_1", 4), ("Stage2Unit", "s2_0", 6)):
        if h.shape[-1] != width:
            h = L.Conv2D(width, 1, name=f"proj_{name}")(h)
        with ir.block(kind, name):
            y = L.Conv2D(width, 3, padding="same", activation="relu", name=f"{name}_conv1")(h)
            y = L.Reshape((9, 10, width), name=f"{name}_back")(L.Reshape((90, width), name=f"{name}_flat")(y))
            h = L.Add(name=f"{name}_add")([h, L.Conv2D(width, 1, name=f"{name}_conv2")(y)])
    return ir.Model(x, L.GlobalAvgPool2D(name="pool")(h), name="stages").randomize(0)


def test_kinds_that_differ_only_in_literals_merge_into_one_parametrised_class(tmp_path):
    """Stage1Unit and Stage2Unit -> ``StageUnit`` (their common stem); literals with the same values in every
    instance share one parameter; torch's forward reads its literal parameters as attributes."""
    model = stages()
    code = emit(model, "torch", out_dir=tmp_path / "torch")
    assert "class StageUnit(nn.Module):" in code and code.count("(nn.Module):") == 2
    assert '"""Block Stage1Unit, Stage2Unit; instances: s1_0, s1_1, s2_0."""' in code
    assert "def __init__(self, conv1_in_channels):" in code
    assert "self.conv1_in_channels = conv1_in_channels" in code
    # The flat (90, C) view keeps channels first in torch: H and W merge as a run, so no transpose.
    assert (
        "h = h.reshape(h.shape[0], self.conv1_in_channels, 90)" in code and code.count("permute") == 1
    )  # the input only
    assert [code.count(f"= StageUnit({w})") for w in (4, 6)] == [2, 1]
    keras_code = emit(model, "keras", out_dir=tmp_path / "keras")
    assert "def stage_unit(x, conv1_filters, flat_target_shape, back_target_shape, name):" in keras_code
    assert 's2_0_add = stage_unit(proj_s2_0, 6, (90, 6), (9, 10, 6), name="s2_0")' in keras_code
    x = _x((2, 9, 10, 3))
    want = np.asarray(to_keras(model)(x))
    np.save(tmp_path / "torch" / "x.npy", x)
    np.save(tmp_path / "keras" / "x.npy", x)
    got = run_standalone(
        tmp_path / "torch",
        (
            "import numpy as np, torch, stages as m\n"
            "net = m.load_weights(m.Stages(), 'stages.safetensors').eval()\n"
            "np.save('out.npy', net(torch.from_numpy(np.load('x.npy'))).detach().numpy())\n"
        ),
        "torch",
    )
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-4)
    got = run_standalone(
        tmp_path / "keras",
        (
            "import numpy as np, stages as m\n"
            "net = m.build_stages()\nnet.load_weights('stages.weights.h5')\n"
            "np.save('out.npy', np.asarray(net(np.load('x.npy'))))\n"
        ),
        "keras",
    )
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(_torch_out(model, x), want, atol=1e-5, rtol=1e-4)


def test_instances_that_lower_differently_are_emitted_inline():
    """A stride-2 'same' conv pads asymmetrically on an even input (an extra ZeroPad2d in torch) and
    symmetrically on an odd one: more than literals differ, so torch writes the kind inline."""
    x = ir.Input((10, 10, 3), name="image")
    h = x
    for i in range(2):
        with ir.block("Down", f"down_{i}"):
            h = L.ReLU(name=f"down_{i}_relu")(L.Conv2D(3, 3, strides=2, padding="same", name=f"down_{i}_conv")(h))
    model = ir.Model(x, h, name="downs").randomize(0)
    code = emit(model, "torch")
    assert "class Down(nn.Module)" not in code
    assert "# block Down emitted inline: instances 'down_0' and 'down_1' lower to a different number" in code
    x = _x((2, 10, 10, 3))
    np.testing.assert_allclose(_torch_out(model, x), np.asarray(to_keras(model)(x)), atol=1e-5, rtol=1e-4)
    assert "def down(x, name):" in emit(model, "keras")  # Keras pads by itself: one function serves both


def test_interleaved_blocks_with_several_inputs_and_outputs():
    """Instances reopened around outside layers, reading two inputs and feeding the outside from the middle."""
    x = ir.Input((4,), name="x")
    h, side = x, L.Dense(4, name="side")(x)
    for i in range(2):
        with ir.block("Mix", f"mix_{i}"):
            a = L.Dense(4, activation="tanh", name=f"mix_{i}_a")(h)
        peek = L.Dense(4, name=f"peek_{i}")(a)  # outside, made while the block is half built, reads its middle
        with ir.block("Mix", f"mix_{i}"):
            b = L.Add(name=f"mix_{i}_add")([L.Dense(4, name=f"mix_{i}_b")(a), side])
        h = L.Multiply(name=f"mul_{i}")([b, peek])
    model = ir.Model(x, h, name="mixes").randomize(0)
    code = emit(model, "torch")
    assert code.count("class Mix(nn.Module)") == 1
    assert "def forward(self, x0, x1):" in code and "return a, add" in code
    assert "mix_0_a, mix_0_add = self.mix_0(x, side)" in code
    assert "def mix(x0, x1, name):" in emit(model, "keras")
    x = _x((3, 4))
    np.testing.assert_allclose(_torch_out(model, x), np.asarray(to_keras(model)(x)), atol=1e-5, rtol=1e-4)


def test_from_torch_marks_user_modules_as_blocks():
    """Each call of a user module class is an instance; instances of another structure get their own kind."""
    import torch
    from torch import nn

    from twinnet.backends import from_torch

    class Res(nn.Module):
        def __init__(self, cin, cout, stride=1):
            super().__init__()
            self.conv1, self.bn = nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
            self.down = nn.Conv2d(cin, cout, 1, stride) if stride != 1 or cin != cout else None

        def forward(self, x):
            y = self.conv2(torch.relu(self.bn(self.conv1(x))))
            return torch.relu(y + (x if self.down is None else self.down(x)))

    class Split(nn.Module):  # two unconnected branches: not one region, so left unmarked
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(6, 2), nn.Linear(6, 2)

        def forward(self, x):
            return self.a(x), self.b(x)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 4, 3, 1, 1)
            self.layer1 = nn.Sequential(Res(4, 4), Res(4, 4), Res(4, 6, 2))
            self.split = Split()

        def forward(self, x):
            a, b = self.split(self.layer1(self.stem(x)).mean((2, 3)))
            return a * b

    net = Net().eval()
    with torch.no_grad():
        net.layer1[0].bn.running_var.uniform_(0.5, 1.5)
    x = torch.randn(2, 3, 9, 10)
    model = from_torch(net, (x,))
    marks = {n.block for n in model.layers if n.block}
    assert marks == {("Res", "layer1_0"), ("Res", "layer1_1"), ("Res2", "layer1_2")}
    code = emit(model, "torch")
    assert code.count("= Res()") == 2 and code.count("= Res2()") == 1 and "class Split" not in code
    tm = to_torch(model)
    assert "layer1_0.conv1.weight" in tm.state_dict()
    with torch.no_grad():
        np.testing.assert_allclose(tm(x).numpy(), net(x).numpy(), atol=1e-5, rtol=1e-4)


def test_local_names_avoid_keywords_and_module_attributes():
    """``b0_forward`` would become ``self.forward`` and ``b0_if`` a variable ``if``.

    They are renamed (``forward_1``, ``if_``).
    """
    x = ir.Input((3,), name="x")
    h = x
    for i in range(2):
        with ir.block("B", f"b{i}"):
            h = L.ReLU(name=f"b{i}_if")(L.Dense(3, name=f"b{i}_forward")(h))
    model = ir.Model(x, h, name="kw").randomize(0)
    code = emit(model, "torch")
    assert (
        "self.forward_1 = nn.Linear(3, 3)" in code and "h = self.forward_1(x)" in code and "if_ = torch.relu(h)" in code
    )
    assert "if_ = layers.ReLU(" in emit(model, "keras")
    x = _x((2, 3))
    np.testing.assert_allclose(_torch_out(model, x), np.asarray(to_keras(model)(x)), atol=1e-5, rtol=1e-4)


def test_a_transpose_shared_across_the_boundary_falls_back_to_inline():
    """An outside Reshape, lowered between the block's layers, transposes the block's conv output back to
    channels last; the block's own Reshape reuses that transpose, so in torch the block cannot run as one call."""
    x = ir.Input((9, 10, 3), name="image")
    with ir.block("Mixed", "b0"):
        c = L.Conv2D(3, 3, padding="same", name="b0_conv")(x)
    # (30, 9) splits W and merges it with C: the channels-last order must be materialised first.
    side = L.Reshape((30, 9), name="side")(c)
    with ir.block("Mixed", "b0"):
        d = L.Reshape((30, 9), name="b0_flat")(c)
    model = ir.Model(x, L.Add(name="join")([d, side]), name="shared").randomize(0)
    code = emit(model, "torch")
    assert "class Mixed(nn.Module)" not in code and "self.b0_conv = nn.Conv2d" in code
    assert "# block Mixed emitted inline: in instance 'b0' a line of the block reads a result computed" in code
    assert "def mixed(x, name):" in emit(model, "keras")  # Keras needs no transpose: the block stands
    x = _x((2, 9, 10, 3))
    np.testing.assert_allclose(_torch_out(model, x), np.asarray(to_keras(model)(x)), atol=1e-5, rtol=1e-4)


def test_a_transpose_of_the_block_input_stays_outside():
    """The first block reads the NHWC model input: the transpose to channels first is the caller's."""
    x = ir.Input((9, 10, 3), name="image")
    h = x
    for i in range(2):
        with ir.block("Conv", f"c{i}"):
            h = L.Conv2D(3, 3, padding="same", activation="relu", name=f"c{i}_conv")(h)
    model = ir.Model(x, h, name="convs").randomize(0)
    code = emit(model, "torch")
    assert "x = image.permute(0, 3, 1, 2)\n        x = self.c0(x)" in code and code.count("= Conv()") == 2
    x = _x((2, 9, 10, 3))
    np.testing.assert_allclose(_torch_out(model, x), np.asarray(to_keras(model)(x)), atol=1e-5, rtol=1e-4)


def test_an_instance_with_no_lines_of_its_own_is_emitted_inline():
    # a block made only of relabelling transposes lowers to no line: inline, with a note, not a crash
    x = ir.Input((6, 4), name="x")
    h = x
    for i in range(2):
        with ir.block("Swap", f"swap_{i}"):
            h = O.Transpose("NCT")(h)
    model = ir.Model([x], [O.Unary("tanh", name="out")(h)], name="swaps")
    for compile_ in (to_torch, to_keras):
        assert any("no lines of its own" in note for note in compile_(model).twinnet_program.notes)
