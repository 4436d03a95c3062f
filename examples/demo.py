"""The README demo: build the MNIST convnet, show it, and verify that Keras,
PyTorch and both ONNX exports compute the same thing.

    bash .ci/setup && python examples/demo.py

Exits with status 1 if any pair of paths disagrees.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow is imported
sys.path.insert(0, str(Path(__file__).resolve().parent))  # mnist_convnet.py sits beside this file

from mnist_convnet import build  # noqa: E402

from twinnet import verify  # noqa: E402
from twinnet.exporters.quiet import quiet_tensorflow_import  # noqa: E402

quiet_tensorflow_import()  # TensorFlow's C++ start-up lines ignore TF_CPP_MIN_LOG_LEVEL: keep them off the output


def main() -> int:
    model = build(seed=0)
    model.summary()
    report = verify(model, paths="all")  # every path, the ONNX exports through Keras and torch too
    print(report.table())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
