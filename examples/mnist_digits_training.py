"""Train the MNIST convnet of ``mnist_convnet.py`` in Keras and in PyTorch from one training spec.

The data is scikit-learn's handwritten digits (1,797 8x8 images shipped with
the package, nothing downloaded), scaled up to the convnet's 28x28. Both
frameworks start from the same weights and see the same batches in the same
order; the spec's parity mode turns dropout off so that the two runs can agree
step for step. The two loss curves go side by side to a PNG and the final test
accuracies are printed.

    pip install -e '.[examples]'
    python examples/mnist_digits_training.py --out digits_training.png
"""

from __future__ import annotations

import argparse
import importlib.util
import os
from pathlib import Path

import numpy as np


def digits(test_size: int = 297):
    """scikit-learn's digits as (N, 28, 28, 1) floats in [0, 1] (each pixel 3x3, then a 2-pixel border)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.kron(d.images / 16.0, np.ones((3, 3)))  # 8x8 -> 24x24
    images = np.pad(images, ((0, 0), (2, 2), (2, 2)))[..., None].astype(np.float32)
    labels = d.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(labels))
    test, train = order[:test_size], order[test_size:]
    return (images[train], labels[train]), (images[test], labels[test])


def convnet(seed: int = 0):
    path = Path(__file__).with_name("mnist_convnet.py")
    spec = importlib.util.spec_from_file_location("mnist_convnet", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build(seed)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", default="digits_training.png", help="where the plot goes")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow is imported

    import warnings

    import keras
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    import twinnet
    from twinnet import training as T
    from twinnet.backends.keras.training import as_dataset
    from twinnet.backends.torch.training import Callback

    (x, y), (xt, yt) = digits()
    model = convnet()
    spec = T.TrainingSpec(
        T.SparseCategoricalCrossentropy(),
        T.Adam(T.WarmUp(T.CosineDecay(1e-3, decay_steps=150), warmup_steps=10)),
        (T.SparseCategoricalAccuracy(),),
        batch_size=32,
        epochs=args.epochs,
        seed=0,
        parity=True,
    )
    warnings.filterwarnings("ignore", "parity mode")  # said once below instead

    class KerasSteps(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.losses = []

        def on_train_batch_end(self, batch, logs=None):
            self.losses.append(logs["loss"])

    class TorchSteps(Callback):
        def __init__(self):
            self.losses = []

        def on_train_batch_end(self, batch, logs=None):
            self.losses.append(logs["loss"])

    print("parity mode: dropout is off in both frameworks (their masks cannot be shared)")
    km = twinnet.to_keras(model, training=spec)
    keras_steps = KerasSteps()
    km.fit(as_dataset((x, y), spec), epochs=spec.epochs, shuffle=False, callbacks=[keras_steps], verbose=0)
    keras_acc = float(np.mean(np.argmax(km.predict(xt, verbose=0), -1) == yt))

    tm = twinnet.to_torch(model)
    torch_steps = TorchSteps()
    twinnet.fit(tm, spec, (x, y), callbacks=[torch_steps], device="auto")
    with torch.no_grad():
        out = tm(torch.as_tensor(xt).to(next(tm.parameters()).device)).cpu().numpy()
    torch_acc = float(np.mean(np.argmax(out, -1) == yt))

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, name, losses in zip(axes, ("Keras", "PyTorch"), (keras_steps.losses, torch_steps.losses)):
        ax.plot(np.arange(1, len(losses) + 1), losses)
        ax.set_title(f"{name}: running epoch loss per step")
        ax.set_xlabel("step")
    axes[0].set_ylabel("sparse categorical cross-entropy")
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    gap = np.max(np.abs(np.array(keras_steps.losses) - np.array(torch_steps.losses)))
    print(f"test accuracy: Keras {keras_acc:.4f}, PyTorch {torch_acc:.4f}")
    print(f"largest per-step loss difference: {gap:.2e}; plot written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
