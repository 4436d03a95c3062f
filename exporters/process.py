"""What the ``twinnet`` command sets for its own process before any framework loads.

:func:`command` is the process entry point (the ``twinnet`` script and ``python -m twinnet.exporters``);
it runs :func:`twinnet.exporters.cli.main` with :func:`process_defaults`, which sets two defaults in
the environment once the arguments are parsed. ``main(argv)`` called from a user's own program (or a
test) sets neither: the environment of a process twinnet does not own is left alone. A value the user
already set wins over both.

* ``OMP_WAIT_POLICY=PASSIVE``: torch's OpenMP threads sleep between parallel regions instead of
  spinning. On a machine whose cores are busy the spinning threads take the cores the work needs
  (ResNet50's two forward passes took 2.9 s of CPU spinning, 0.7 s passive); on an idle one the
  difference is a few milliseconds. Read once, when torch loads: set only while torch is not loaded.
* ``KERAS_BACKEND=torch`` for ``convert`` of a ``.keras`` file to torch: a ``.keras`` file is
  backend-neutral, and torch is loaded anyway to run the emitted file, so the source model runs under
  Keras's torch backend and TensorFlow is never loaded (about 2 s of CPU and 350 MiB of memory
  less). Only when every path asked for runs without TensorFlow (``onnx-keras`` and ``keras`` need
  it, so ``--paths all`` keeps Keras's configured backend) and Keras is not loaded yet.

>>> env = {}
>>> process_defaults(argparse.Namespace(src="m.keras", to="torch", paths=None), env, modules={})
>>> env == {"OMP_WAIT_POLICY": "PASSIVE", "KERAS_BACKEND": "torch"}
True
"""

from __future__ import annotations

import argparse
import os
import sys

#: the verify paths that run without TensorFlow (torch, and onnxruntime on files written without Keras)
WITHOUT_TENSORFLOW = frozenset({"torch", "onnx-torch", "onnx-ir"})


def process_defaults(args: argparse.Namespace, environ=None, modules=None) -> None:
    """Set the command's defaults in ``environ`` (``os.environ``) for the parsed ``args``."""
    environ = os.environ if environ is None else environ
    modules = sys.modules if modules is None else modules
    if "torch" not in modules:
        environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if "KERAS_BACKEND" not in environ and "keras" not in modules and _keras_source_to_torch(args):
        environ["KERAS_BACKEND"] = "torch"


def _keras_source_to_torch(args) -> bool:
    """``convert FILE.keras --to torch`` whose paths all run without TensorFlow."""
    from .verify import CONVERT_PATHS

    src, to = getattr(args, "src", None), getattr(args, "to", None)
    paths = getattr(args, "paths", None) or CONVERT_PATHS
    return to == "torch" and str(src).endswith(".keras") and set(paths) <= WITHOUT_TENSORFLOW


def command() -> int:
    """The ``twinnet`` command as a process: :func:`~twinnet.exporters.cli.main` with :func:`process_defaults`."""
    from .cli import main

    return main(setup=process_defaults)
