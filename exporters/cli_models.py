"""The MODEL argument of the ``twinnet`` commands: a saved IR file, or a ``FILE.py:FUNCTION`` that is run.

A problem with what the user gave is a :class:`BadInput` (exit code 2, decided in :func:`twinnet.exporters.cli.main`).
"""

from __future__ import annotations

from pathlib import Path


class BadInput(Exception):
    """A problem with what the user gave us: exit code 2."""


def load_model(spec: str):
    """Load MODEL: a saved ``.json``/``.safetensors`` file, or run ``FILE.py:FUNCTION``.

    >>> load_model("examples/mnist_convnet.py:build").name  # doctest: +SKIP
    'mnist_convnet'
    """
    from .. import ir

    path, sep, func = spec.rpartition(":")
    if sep and path.endswith(".py"):
        return _model_from_python(Path(path), func)
    path = Path(spec)
    if path.suffix == ".py":
        raise BadInput(f"{spec!r}: name the function too, as FILE.py:FUNCTION")
    if path.suffix not in (".json", ".safetensors"):
        raise BadInput(f"{spec!r}: MODEL must be a .json or .safetensors file, or FILE.py:FUNCTION")
    if not path.is_file():
        raise BadInput(f"{spec!r}: no such file")
    return ir.load(path)  # validates; never executes anything from the file


def _model_from_python(path: Path, func: str):
    from .. import ir
    from .sources import call_python

    model = call_python(path, func)
    if not isinstance(model, ir.Model):
        raise BadInput(f"{path.name}:{func}() returned {type(model).__name__}, not an ir.Model")
    if model.weight_specs() and not model.weights:
        model.initialize(0)
    return model
