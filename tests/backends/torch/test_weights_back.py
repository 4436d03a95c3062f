"""Weights back from torch (backends/torch/weights_back.py): a module compiled by ``to_torch`` or loaded
from the emitted file, its weights changed (at random, or by a real training loop), comes back into the IR
and compiles to Keras with the same predictions. Bit-for-bit identity per layer kind runs in check_layer."""

import numpy as np
import pytest
import torch
from weights_back_check import (
    assert_same_predictions,
    block_model,
    image_model,
    inputs,
    mnist_batchnorm,
    run_keras,
    run_torch,
    sequence_model,
)

from examples.lstm_sentiment import build as lstm_classifier
from twinnet import emit, ir, load_weights_from, to_keras, to_torch
from twinnet.backends.torch.compile import class_name
from twinnet.backends.torch.weights_back import load_weights_from as from_torch_module

L = ir.layers


def perturb(net, seed: int = 0) -> None:
    """Move every float parameter and buffer at random, as training would (variances kept positive)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, value in net.state_dict().items():
            if value.is_floating_point():
                value.add_(0.2 * torch.randn(value.shape, generator=gen))
                if name.endswith("running_var"):
                    value.abs_().add_(0.1)


MODELS = {
    "nchw": lambda: image_model("NCHW"),
    "nhwc": lambda: image_model("NHWC"),
    "sequence": sequence_model,
    "blocks": block_model,
}


@pytest.mark.parametrize("case", sorted(MODELS))
def test_perturbed_torch_weights_compile_to_keras(case):
    model = MODELS[case]()
    net = to_torch(model)
    perturb(net)
    back = load_weights_from(model, net)
    assert not any(np.array_equal(back.weights[k], v) for k, v in model.weights.items())  # all moved
    km = to_keras(back)
    assert_same_predictions(model, lambda x: run_torch(net, x), lambda x: run_keras(km, x), seeds=(0, 1))


def test_trained_second_bias_folds_into_the_first():
    """torch's nn.LSTM adds bias_ih and bias_hh; the IR's one bias is their sum."""
    model = sequence_model()
    net = to_torch(model)
    with torch.no_grad():
        net.lstm.bias_hh_l0.fill_(0.5)
    back = load_weights_from(model, net)
    expected = net.lstm.bias_ih_l0.detach().numpy() + np.float32(0.5)
    assert np.array_equal(back.weights["lstm/bias"], expected)
    km = to_keras(back)
    assert_same_predictions(model, lambda x: run_torch(net, x), lambda x: run_keras(km, x))


def test_emitted_module_comes_back(tmp_path):
    model = image_model("NCHW")
    emit(model, "torch", tmp_path)
    namespace = {"__name__": "emitted", "__file__": str(tmp_path / f"{model.name}.py")}
    exec(compile((tmp_path / f"{model.name}.py").read_text(), namespace["__file__"], "exec"), namespace)
    net = namespace["load_weights"](namespace[class_name(model.name)](), str(tmp_path / f"{model.name}.safetensors"))
    perturb(net.eval(), seed=3)
    km = to_keras(load_weights_from(model, net))
    assert_same_predictions(model, lambda x: run_torch(net, x), lambda x: run_keras(km, x))


def train(net, model, loss_fn, targets, steps: int = 4) -> None:
    """A plain torch loop: Adam, a few steps on seeded data, then eval mode."""
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    net.train()
    for step in range(steps):
        x = torch.from_numpy(inputs(model, 16, seed=10 + step))
        optimizer.zero_grad()
        loss = loss_fn(net(x), targets(step))
        loss.backward()
        optimizer.step()
    net.eval()


def test_mnist_batchnorm_trained_in_torch_predicts_the_same_in_keras():
    model = mnist_batchnorm()
    net = to_torch(model)
    labels = torch.Generator().manual_seed(0)
    train(
        net,
        model,
        lambda probs, y: torch.nn.functional.nll_loss(torch.log(probs + 1e-7), y),
        lambda step: torch.randint(0, 10, (16,), generator=labels),
    )
    back = load_weights_from(model, net)
    assert not np.array_equal(back.weights["batch_norm/moving_mean"], model.weights["batch_norm/moving_mean"])
    km = to_keras(back)
    assert_same_predictions(model, lambda x: run_torch(net, x), lambda x: run_keras(km, x))


def test_lstm_classifier_trained_in_torch_predicts_the_same_in_keras():
    model = lstm_classifier()
    net = to_torch(model)
    labels = torch.Generator().manual_seed(1)
    train(
        net,
        model,
        torch.nn.functional.binary_cross_entropy,
        lambda step: torch.randint(0, 2, (16, 1), generator=labels).float(),
    )
    back = load_weights_from(model, net)
    assert not np.array_equal(back.weights["lstm/bias"], model.weights["lstm/bias"])
    km = to_keras(back)
    assert_same_predictions(model, lambda x: run_torch(net, x), lambda x: run_keras(km, x))


def test_a_module_of_another_model_is_refused():
    narrower = ir.Sequential([L.Dense(2)], input=ir.Input((4,)), name="narrow").initialize(0)
    wider = ir.Sequential([L.Dense(3)], input=ir.Input((4,)), name="narrow").initialize(0)
    with pytest.raises(ir.WeightError, match=r"Dense 'dense'.*'dense\.weight' has shape \(3, 4\), expected \(2, 4\)"):
        load_weights_from(narrower, to_torch(wider))
    deeper = ir.Sequential([L.Dense(2), L.Dense(2)], input=ir.Input((4,)), name="deep").initialize(0)
    with pytest.raises(ir.WeightError, match=r"Dense 'dense_1'.*no parameter 'dense_1\.weight'"):
        load_weights_from(deeper, to_torch(narrower))
    with pytest.raises(
        ir.WeightError,
        match=r"dense_1: the torch model has parameters that compiling 'narrow' does not make: dense_1\.bias",
    ):
        load_weights_from(narrower, to_torch(deeper))


def test_a_trained_constant_is_refused():
    """BatchNorm without scale: torch's BatchNorm has a weight anyway, fixed at one; trained, the IR cannot hold it."""
    model = ir.Sequential([L.BatchNorm(scale=False)], input=ir.Input((4,)), name="bn").randomize(0)
    net = to_torch(model)
    with torch.no_grad():
        net.batch_norm.weight.fill_(2.0)
    with pytest.raises(ir.WeightError, match=r"BatchNorm 'batch_norm'.*'batch_norm\.weight' moved off the constant"):
        load_weights_from(model, net)


def test_wrong_framework_object_is_refused():
    model = image_model("NHWC")
    with pytest.raises(
        ir.WeightError, match=r"takes the torch\.nn\.Module, keras\.Model or onnx\.ModelProto .* got builtins\.dict"
    ):
        load_weights_from(model, {})
    with pytest.raises(ir.WeightError, match=r"from torch take a torch\.nn\.Module, got Functional"):
        from_torch_module(model, to_keras(model))
