"""Your own layers: a custom Keras layer and a custom torch module, each converted to the other framework.

twinnet never runs code from a model, so it cannot guess what a custom layer computes: you say it once,
with a converter (docs/extending.md). The converter takes what the importer's built-in entries take and
returns the IR layers that compute the same thing:

* Keras: ``from_keras(model, converters={SiLUDense: fn})``, ``fn(layer, inputs)`` returns
  ``(ir_layer, weights)``, weights by short name in the IR's (Keras's) layout;
* torch: ``from_torch(module, x, converters={ResidualMLP: fn})``, ``fn(importer, call)`` adds IR layers
  with ``importer.add(call, layer, inputs, weights)`` and returns the output tensor; every instance of
  the class is kept whole by the capture (its ``forward`` is not traced).

    python examples/custom_layers.py

>>> keras_to_torch() < 1e-5, torch_to_keras() < 1e-5
(True, True)
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow is imported

import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import twinnet  # noqa: E402
from twinnet import layers as L  # noqa: E402


# -- a custom Keras layer -> torch ---------------------------------------------------------------------------
class SiLUDense(keras.layers.Layer):
    """A fully connected layer with the SiLU activation built in: ``silu(x @ kernel + bias)``."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
        self.bias = self.add_weight(shape=(self.units,), initializer="random_normal", name="bias")

    def call(self, x):
        return keras.ops.silu(keras.ops.matmul(x, self.kernel) + self.bias)


def silu_dense(layer, inputs):
    """SiLUDense -> the IR's Dense with ``activation="silu"``; the weights are already in Keras's layout."""
    return L.Dense(layer.units, activation="silu"), {"kernel": layer.kernel.numpy(), "bias": layer.bias.numpy()}


def keras_model(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    x = keras.Input((6,))
    h = SiLUDense(8, name="silu_dense")(x)
    return keras.Model(x, keras.layers.Dense(3, name="head")(h))


def keras_to_torch(seed: int = 0) -> float:
    """Import the Keras model with the converter, compile it to torch; the largest difference at batch 2 and 3."""
    km = keras_model(seed)
    model = twinnet.from_keras(km, converters={SiLUDense: silu_dense})
    net = to_torch_eval(model)
    worst = 0.0
    for batch in (2, 3):
        x = np.random.default_rng(batch).standard_normal((batch, 6)).astype(np.float32)
        with torch.no_grad():
            got = net(torch.from_numpy(x)).numpy()
        worst = max(worst, float(np.abs(got - np.asarray(km(x))).max()))
    return worst


# -- a custom torch module -> Keras ---------------------------------------------------------------------------
class ResidualMLP(nn.Module):
    """``x + fc2(relu(fc1(x)))``: a residual feed-forward block written as one module."""

    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x):
        return x + self.fc2(torch.relu(self.fc1(x)))


def residual_mlp(importer, call):
    """ResidualMLP -> Dense(relu), Dense, Add. Torch's Linear weight is (out, in); the IR's kernel (in, out)."""
    m, x = call.module, importer.tensor(call.args[0])
    w1 = {"kernel": m.fc1.weight.detach().numpy().T, "bias": m.fc1.bias.detach().numpy()}
    w2 = {"kernel": m.fc2.weight.detach().numpy().T, "bias": m.fc2.bias.detach().numpy()}
    fc1 = importer.claim(f"{call.name}_fc1")
    h = importer.add(call, L.Dense(m.fc1.out_features, activation="relu"), [x], w1, name=fc1, check=False)
    fc2 = importer.claim(f"{call.name}_fc2")
    h = importer.add(call, L.Dense(m.fc2.out_features), [h], w2, name=fc2, check=False)
    return importer.add(call, L.Add(), [x, h])  # named after the call; its shape checked against torch's


def torch_module(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 6), ResidualMLP(6, 12), nn.Linear(6, 2)).eval()


def torch_to_keras(seed: int = 0) -> float:
    """Import the module with the converter, compile it to Keras; the largest difference at batch 2 and 3."""
    net = torch_module(seed)
    model = twinnet.from_torch(net, (torch.zeros(2, 5),), converters={ResidualMLP: residual_mlp})
    km = twinnet.to_keras(model)
    worst = 0.0
    for batch in (2, 3):
        x = np.random.default_rng(batch).standard_normal((batch, 5)).astype(np.float32)
        with torch.no_grad():
            want = net(torch.from_numpy(x)).numpy()
        worst = max(worst, float(np.abs(np.asarray(km(x)) - want).max()))
    return worst


def to_torch_eval(model):
    return twinnet.to_torch(model).eval()


if __name__ == "__main__":
    print(f"custom Keras layer -> torch: max |diff| {keras_to_torch():.2e}")
    print(f"custom torch module -> Keras: max |diff| {torch_to_keras():.2e}")
