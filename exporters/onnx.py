"""ONNX export through each framework's own exporter.

* ``via="torch"``: ``torch.onnx.export`` (the dynamo exporter), weights
  embedded in the file, symbolic batch (and sequence) dimensions.
* ``via="keras"``: ``keras.Model.export(format="onnx")`` (tf2onnx), after one
  call of the model, as that exporter needs.
* ``via="ir"``: straight from the IR (``backends.onnx``), no framework loaded;
  the file keeps the declared input/output layout like the torch one.

Files are written to a temporary name in the target folder (mode ``0o666 & ~umask``,
like any new file) and renamed into place, and checked with ``onnx.checker`` before they replace anything.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import secrets
import stat
import warnings
from pathlib import Path

from ..ir.errors import ConfigError, IRError, UnsupportedError

VIAS = ("torch", "keras", "ir")

# torch's ONNX exporter warns about optional torchvision ops on every export.
logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
EXAMPLE_BATCH, EXAMPLE_SEQ = 2, 5  # not 0/1: torch.export would specialise those sizes


def example_inputs(model, batch: int = EXAMPLE_BATCH, seq: int = EXAMPLE_SEQ, layouts=None, seed: int = 0):
    """Seeded inputs for ``model`` that fit it (:func:`twinnet.exporters.inputs.model_inputs`).

    ``layouts`` (one per input) transposes each from its declared layout.
    """
    from .inputs import model_inputs

    return model_inputs(model, batch, seq, seed=seed, layouts=layouts)


def export_onnx(model, path, via: str = "torch", *, compiled=None) -> Path:
    """Export ``model`` to ONNX through torch or Keras, or straight from the IR (``via="ir"``); returns the path.

    The file keeps the compiled model's input/output layout (declared; Keras
    puts the batch axis first) and has a symbolic batch dimension.
    ``compiled``: the model already compiled for ``via`` (``to_torch(model)`` /
    ``to_keras(model)``), exported instead of compiling it again.

    >>> # export_onnx(model, "m.onnx", via="keras")
    """
    if via not in VIAS:
        raise ConfigError(f"via must be one of {VIAS}, got {via!r}")
    path = Path(path)
    if path.suffix != ".onnx":
        raise ConfigError(f"the ONNX file name must end in .onnx, got {path.name!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_file_beside(path)
    try:
        {"torch": _export_torch, "keras": _export_keras, "ir": _export_ir}[via](model, Path(tmp), compiled)
        import onnx

        onnx.checker.check_model(tmp, full_check=True)
        os.replace(tmp, path)
    except IRError:
        raise
    except Exception as e:  # framework exporter failures: one readable line, naming the path
        raise UnsupportedError(
            f"ONNX export via {via} failed for model {model.name!r}: "
            f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
        ) from e
    finally:
        for leftover in (tmp, tmp + ".data"):
            if os.path.exists(leftover):
                os.unlink(leftover)
    return path


def _new_file_beside(path: Path) -> str:
    """An empty ``.<stem>.<random>.onnx`` in ``path``'s folder, mode ``0o666 & ~umask`` like any new file
    (``tempfile.mkstemp`` would make it private, 0600); a re-export keeps the mode of the file it replaces."""
    while True:
        tmp = path.parent / f".{path.stem}.{secrets.token_hex(6)}.onnx"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            break
        except FileExistsError:
            continue
    try:
        if hasattr(os, "fchmod") and path.is_file():
            os.fchmod(fd, stat.S_IMODE(path.stat().st_mode))
    finally:
        os.close(fd)
    return str(tmp)


def _export_torch(model, path: Path, module=None) -> None:
    import torch

    from ..backends.torch import to_torch

    module = module if module is not None else to_torch(model)
    program = module.twinnet_program
    args = tuple(torch.from_numpy(x) for x in example_inputs(model))
    dynamic = {}
    for var, spec, phys in program.inputs:
        dims = {phys.index(a): torch.export.Dim.DYNAMIC for a, s in zip(spec.layout, spec.shape) if s is None}
        dynamic[var] = dims
    names = [v for v, _, _ in program.inputs]
    recurrent = any(isinstance(m, (torch.nn.RNNBase,)) for m in module.modules())
    quiet = contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO())
    with warnings.catch_warnings(), quiet[0], quiet[1]:
        warnings.simplefilter("ignore")
        if recurrent:
            # The dynamo exporter decomposes nn.GRU/nn.LSTM with the example's sequence length baked
            # into a Reshape (verify caught it: a length-9 input fails); the TorchScript exporter emits
            # ONNX's own LSTM/GRU/RNN ops, which keep the length symbolic.
            axes = {var: {i: f"{var}_dim{i}" for i in dims} for var, dims in dynamic.items()}
            axes.update(
                {
                    o: {i: f"{t.node.name}_dim{i}" for i, s in enumerate(t.shape) if s is None}
                    for o, t in zip(_output_names(model), model.outputs)
                }
            )
            torch.onnx.export(
                module,
                args,
                str(path),
                dynamo=False,
                input_names=names,
                output_names=_output_names(model),
                dynamic_axes=axes,
                opset_version=17,
            )
        else:
            torch.onnx.export(
                module,
                args,
                str(path),
                dynamo=True,
                external_data=False,
                dynamic_shapes=dynamic,
                input_names=names,
                output_names=_output_names(model),
                verbose=False,
            )


def _export_ir(model, path: Path, _compiled=None) -> None:
    import onnx

    from ..backends.onnx import to_onnx
    from .memory import release_memory

    proto = to_onnx(model)
    release_memory()  # the lowering's arrays, copied into the proto and let go, before it is serialised
    onnx.save(proto, str(path))


def _export_keras(model, path: Path, km=None) -> None:
    from ..backends.keras import to_keras
    from .tf2onnx_ops import register

    register()

    km = km if km is not None else to_keras(model)
    layouts = [keras_layout(t.layout) for t in model.inputs]
    xs = example_inputs(model, layouts=layouts)
    km(xs if len(xs) > 1 else xs[0])  # tf2onnx needs a model that has been called once
    # tf2onnx logs an op it cannot convert (at ERROR, on stderr) and writes a file that onnx.checker
    # then rejects for a less telling reason: keep its log off stderr and fail with what it said.
    log, collected = logging.getLogger("tf2onnx"), _Collect()
    log.addHandler(collected)
    propagate, log.propagate = log.propagate, False
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            km.export(str(path), format="onnx", verbose=False)
    finally:
        log.removeHandler(collected)
        log.propagate = propagate
    if collected.messages:
        import onnx

        try:  # errors tf2onnx recovered from are no reason to fail
            onnx.checker.check_model(str(path), full_check=True)
        except Exception as e:
            raise RuntimeError(f"tf2onnx: {'; '.join(collected.messages[:3])}") from e


class _Collect(logging.Handler):
    """Keeps the messages of ERROR log records."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def keras_layout(layout: str) -> str:
    """How Keras holds a declared layout at its inputs and outputs: the batch axis first."""
    return "N" + layout.replace("N", "")


def _output_names(model):
    # Suffixed so they cannot clash with the exporter's names for internal values (a module named
    # like its output layer made the dynamo exporter reuse "conv2d" for two values).
    return [f"{t.node.name}:out" for t in model.outputs]
