"""``emit``: readable, runnable source for either framework, with the weights beside it."""

from __future__ import annotations

import gc
import os
import tempfile
from pathlib import Path

#: the frameworks ``emit`` writes (the exporters' table of targets, twinnet.exporters.targets, has the same keys)
FRAMEWORKS = ("torch", "keras")


def emit(model, framework: str, out_dir=None, *, native_io: bool = False, program=None) -> str:
    """Python source of ``model`` for ``framework`` ("torch" or "keras").

    With ``out_dir``, also writes ``<out_dir>/<model name>.py`` and its weights
    beside it (``<name>.safetensors`` for torch, ``<name>.weights.h5`` for Keras),
    so that ``python <name>.py`` runs with only that framework installed.
    ``native_io=True`` makes the emitted model take and return tensors in the
    framework's own layout (no boundary transposes), as in ``to_torch``.
    ``program``: the model already lowered for ``framework`` (its backend's
    ``lower(model, native_io=native_io)``), so it is not lowered again; the
    source and the weights both come from that one lowering.

    >>> from twinnet import ir
    >>> m = ir.Sequential([ir.layers.Dense(2)], input=ir.Input((3,)), name="tiny").initialize(0)
    >>> "class Tiny(nn.Module)" in emit(m, "torch")
    True
    """
    from ..ir.errors import ConfigError

    if framework not in FRAMEWORKS:
        raise ConfigError(f"framework must be 'torch' or 'keras', got {framework!r}")
    if framework == "torch":
        from . import torch as backend
    else:
        from . import keras as backend
    if program is None:
        program = backend.lower(model, native_io=native_io)
    if framework == "torch":
        code, state = backend.source_of(program, model)
    else:
        code, state = backend.source_of(program, model), None
    if out_dir is None:
        return code
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write(out / f"{model.name}.py", code.encode())
    if framework == "torch":
        from ..ir import safetensors_io
        from .torch.placement import state_in

        # in the model's precision: the emitted module loads them as they are (load_state_dict(assign=True))
        safetensors_io.write(out / f"{model.name}.safetensors", state_in(state, model.dtype))
    else:
        km = backend.compile_program(program, model)  # the weights, from the program the source came from
        fd, tmp = tempfile.mkstemp(suffix=".weights.h5", dir=out)
        os.close(fd)
        try:
            km.save_weights(tmp, overwrite=True)
            _readable(tmp)
            os.replace(tmp, out / f"{model.name}.weights.h5")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        del km
        gc.collect()  # a Keras model is held by reference cycles: its weights go now, not at some later collection
    return code


def _write(path: Path, data: bytes) -> None:
    """Write atomically (a temporary file in the same folder, renamed into place), with the usual permissions."""
    from ..ir.safetensors_io import atomic_write

    atomic_write(path, data)


def _readable(path: str) -> None:
    """mkstemp makes files private; give the file the mode a plain ``open`` would (0o666 minus the umask)."""
    mask = os.umask(0o022)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)
