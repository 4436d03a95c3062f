"""Keep TensorFlow's C++ start-up lines off the terminal of a ``twinnet`` command.

TensorFlow 2.21 writes "All log messages before absl::InitializeLog() ..." and
a oneDNN notice straight to file descriptor 2 while it loads, before
``TF_CPP_MIN_LOG_LEVEL`` is read, so neither that variable nor Python's
``sys.stderr`` can silence them. The CLI installs an import hook: when (and
only when) something first imports ``tensorflow``, the import runs with
descriptor 2 pointed at a temporary file; if it fails, the captured text is
written out, since then it is the explanation. A command that never needs
Keras never pays for loading TensorFlow.

``import twinnet`` calls :func:`quiet_by_default`, so a user's own script that
builds a Keras model is as quiet as the CLI, unless the user set
``TF_CPP_MIN_LOG_LEVEL`` themselves: then TensorFlow logs what they asked for.

>>> quiet_tensorflow_import()  # doctest: +SKIP
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys
import tempfile


class _QuietTensorFlow(importlib.abc.MetaPathFinder):
    _busy = False  # set while asking the other finders, so the question does not come back here

    def find_spec(self, name, path, target=None):
        if name != "tensorflow" or self._busy:
            return None
        # A probe (importlib.util.find_spec, as torch's ONNX exporter does) asks here too without importing:
        # the hook stays until an import really runs TensorFlow's module code.
        self._busy = True
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self._busy = False
        if spec is None or spec.loader is None:
            return spec
        load = spec.loader.exec_module
        finder = self

        def exec_module(module):
            if finder in sys.meta_path:
                sys.meta_path.remove(finder)  # once per process
            sys.stderr.flush()
            saved = os.dup(2)
            with tempfile.TemporaryFile() as captured:
                os.dup2(captured.fileno(), 2)
                try:
                    load(module)
                except BaseException:
                    os.dup2(saved, 2)
                    captured.seek(0)
                    sys.stderr.write(captured.read().decode(errors="replace"))
                    raise
                finally:
                    os.dup2(saved, 2)
                    os.close(saved)

        spec.loader.exec_module = exec_module
        return spec


def quiet_tensorflow_import() -> None:
    """Make the first ``import tensorflow`` of this process (direct or through Keras) leave stderr clean."""
    if "tensorflow" in sys.modules or any(isinstance(f, _QuietTensorFlow) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _QuietTensorFlow())


def quiet_by_default() -> None:
    """Unless the user set ``TF_CPP_MIN_LOG_LEVEL``: set it to 3 and quiet the first TensorFlow import.

    Cheap (it imports nothing); called by ``import twinnet``.
    """
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    quiet_tensorflow_import()
