"""Real PyTorch architectures, written as a torch user would, converted both ways and verified.

Each module of ``examples/torch_archs.py`` (residual CNN, inverted-residual
CNN with squeeze-excitation, transformer-encoder text classifier,
bidirectional GRU text classifier, U-Net, vision transformer with a learned
class token and positional embedding, on ``nn.TransformerEncoder`` and on timm-style blocks with
hand-written attention) is randomised (BatchNorm statistics
included) and must survive:

1. ``from_torch`` -> ``to_torch``: equals the source (float32 tolerances,
   batch 2 and 3);
2. -> ``to_keras``: equals the source;
3. ``to_keras(model)`` -> ``from_keras`` -> ``to_torch``: equals the source again;
4. ``verify`` of the imported model: Keras, torch and both ONNX exports; of
   the model read back from Keras: Keras and torch (its ONNX files would
   re-test the exporters on the same layer kinds).

Cost (2-core machine): ~20 s for the first five, ~8 s of it in the first (TensorFlow's start-up).

The ResNet stem is torchvision's (``Conv2d(.., 2, ..)``, BN, ReLU, ``MaxPool2d(3, 2, padding=1)``: explicit
-inf pool pads, rebuilt exactly in Keras by edge replication). Inputs with a key-padding mask are bool (True = pad)
for the source and the IR's mask (float, 1 = attend) for the converted ones (see
``backends/importers/torch/attention.py``).
"""

import functools

import numpy as np
import pytest
import torch
from torch_import_check import ATOL, RTOL

from examples import torch_archs
from examples.torch_archs import converted_inputs as fed
from twinnet.backends import from_keras, from_torch, to_keras, to_torch
from twinnet.exporters import verify

ALL = ("keras", "torch", "onnx-keras", "onnx-torch")
#: the IR's verify paths per architecture (examples/torch_archs.py)
PATHS = {
    "resnet": ALL,
    "mobilenet": ALL,  # its depthwise convs (groups = channels) are Keras DepthwiseConv2D, which tf2onnx exports
    "transformer": ALL,
    "gru": ALL,
    "unet": ALL,
    "vit": ALL,
    "timm_vit": ALL,
}


def assert_matches(run, net, make):
    for batch in (2, 3):
        xs = make(batch, batch)
        with torch.no_grad():
            ref = net(*xs)
        out = run(fed(xs))
        torch.testing.assert_close(torch.from_numpy(np.asarray(out).copy()), ref, atol=ATOL, rtol=RTOL)  # writable


def run_torch(module):
    def run(xs):
        with torch.no_grad():
            return module(*xs)

    return run


def run_keras(km):
    return lambda xs: km([x.numpy() for x in xs] if len(xs) > 1 else xs[0].numpy(), training=False)


@pytest.mark.parametrize("name", list(torch_archs.ARCHS))
def test_arch_converts_both_ways(name):
    paths = PATHS[name]
    net = torch_archs.build(name)
    make = functools.partial(torch_archs.inputs, name)  # (batch, seed) -> the module's inputs
    model = from_torch(net, make(2, 0))
    assert_matches(run_torch(to_torch(model)), net, make)
    km = to_keras(model)
    assert_matches(run_keras(km), net, make)
    back = from_keras(km)
    assert_matches(run_torch(to_torch(back)), net, make)
    for m, checked in ((model, paths), (back, ("keras", "torch"))):
        report = verify(m, paths=checked)
        assert report.ok, "\n" + report.table()


def load_file(path):
    """Import an emitted source file as a module (what ``python <name>.py`` would run)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# arch -> block kinds (user module classes, a stage's first block with its downsampling a kind of its own)
BLOCK_KINDS = {
    "resnet": ("BasicBlock", "BasicBlock2", "BasicBlock3"),
    "mobilenet": ("InvertedResidual", "InvertedResidual2", "InvertedResidual3"),
}
# arch -> (emitted class, its constructor/builder literal parameters): BasicBlock3 (layer2_1, 12 channels) is
# BasicBlock (8 channels) but for its channel count, so both are one ``BasicBlock(conv1_in_channels)``;
# BasicBlock2 has the downsampling branch (more than literals differ) and stays its own class.
BLOCK_CLASSES = {
    "resnet": {"BasicBlock": "conv1_in_channels", "BasicBlock2": ""},
    "mobilenet": {"InvertedResidual": "", "InvertedResidual2": "", "InvertedResidual3": ""},
}
KERAS_PARAMS = {"conv1_in_channels": "conv1_filters"}


@pytest.mark.parametrize("name", list(BLOCK_KINDS))
def test_arch_blocks_emit_once_per_kind_in_both_frameworks(name, tmp_path):
    """from_torch names a block's functional ops ``<instance>_add`` etc., so Keras writes each kind once too."""
    import re

    net = torch_archs.build(name)
    make = functools.partial(torch_archs.inputs, name)
    model = from_torch(net, make(2, 0))
    kinds = BLOCK_KINDS[name]
    assert sorted({n.block[0] for n in model.layers if n.block}) == sorted(kinds)
    assert all(n.name.startswith(n.block[1] + "_") for n in model.layers if n.block)
    from twinnet.backends import emit

    code = {fw: emit(model, fw, out_dir=tmp_path / fw) for fw in ("torch", "keras")}
    assert all("emitted inline" not in c for c in code.values())
    classes = BLOCK_CLASSES[name]
    assert re.findall(r"^class (\w+)\(nn.Module\):", code["torch"], re.M)[:-1] == list(classes)
    assert all(f"def __init__({', '.join(['self'] + ([p] if p else []))}):" in code["torch"] for p in classes.values())
    fns = {k: "".join("_" + c.lower() if c.isupper() else c for c in k).lstrip("_") for k in classes}
    assert all(
        code["keras"].count(f"def {fns[k]}({', '.join(['x'] + ([KERAS_PARAMS[p]] if p else []))}, name):") == 1
        for k, p in classes.items()
    )
    top = type(net).__name__
    tm = load_file(tmp_path / "torch" / f"{model.name}.py")
    tm = tm.load_weights(getattr(tm, top)(), str(tmp_path / "torch" / f"{model.name}.safetensors")).eval()
    km = load_file(tmp_path / "keras" / f"{model.name}.py").__dict__[f"build_{model.name}"]()
    km.load_weights(str(tmp_path / "keras" / f"{model.name}.weights.h5"))
    assert_matches(run_torch(tm), net, make)
    assert_matches(run_keras(km), net, make)
