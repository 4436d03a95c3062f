"""Where and in what precision a compiled torch module runs: ``to_torch(model, dtype=..., device=...)``.

The module is built and loaded in float32 on the CPU, as always, then moved
once with ``module.to(device, dtype)``: floating parameters and buffers take
the precision, integer buffers (BatchNorm's counter) keep theirs. The module
records both (``twinnet_dtype``, ``twinnet_device``) so that a runner can
feed it: :func:`feed` casts floating inputs to the precision and moves every
input to the device; :func:`fetch` brings outputs back as float32 numpy.
"""

from __future__ import annotations

import numpy as np

from ...ir.errors import ConfigError, show
from ...ir.precision import check_precision, to_storage


def check_device(device) -> str:
    """``device`` as torch names it (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, ...), checked to exist here.

    Raises:
        ConfigError: not a device name torch knows, or a device this machine does not have.
    """
    import torch

    if device is None:
        return "cpu"
    if not isinstance(device, (str, torch.device)):
        raise ConfigError(f"device must be a string such as 'cpu' or 'cuda', got {show(device)}")
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise ConfigError(f"device {show(device)} is not a device torch knows ('cpu', 'cuda', 'cuda:0', ...)") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {str(device)!r}: torch finds no CUDA GPU on this machine")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise ConfigError(f"device {str(device)!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device {str(device)!r}: MPS is not available on this machine")
    elif parsed.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"device {str(device)!r}: twinnet runs torch on 'cpu', 'cuda' or 'mps'")
    return str(parsed)


def torch_dtype(name: str):
    """The torch dtype of a precision name (``"float16"`` -> ``torch.float16``)."""
    import torch

    return getattr(torch, check_precision(name))


def place(module, dtype: str, device: str):
    """Move ``module`` to ``device`` and cast its floating parameters and buffers to ``dtype``; returns it."""
    if dtype != "float32" or device != "cpu":
        module.to(device=device, dtype=torch_dtype(dtype))
    module.twinnet_dtype = dtype
    module.twinnet_device = device
    return module


def feed(module, xs: list[np.ndarray]) -> list:
    """Inputs (numpy) as the tensors ``module`` takes: floats in its precision, all on its device (those it
    records, else those of its first floating parameter or buffer: an emitted file's module)."""
    import torch

    first = next((t for t in [*module.parameters(), *module.buffers()] if t.is_floating_point()), None)
    dtype = getattr(module, "twinnet_dtype", None)
    dtype = torch_dtype(dtype) if dtype else (first.dtype if first is not None else torch.float32)
    device = getattr(module, "twinnet_device", None) or (first.device if first is not None else "cpu")
    out = []
    for x in xs:
        t = torch.from_numpy(np.ascontiguousarray(x))
        out.append(t.to(device=device, dtype=dtype) if t.is_floating_point() else t.to(device))
    return out


def fetch(outputs) -> list[np.ndarray]:
    """A module's output tensor(s) as numpy arrays on the CPU, half precision widened to float32 (exactly)."""
    outs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    result = []
    for o in outs:
        o = o.detach().cpu()
        result.append((o.float() if o.dtype.is_floating_point and o.dtype.itemsize < 4 else o).numpy())
    return result


def state_in(state: dict[str, np.ndarray], dtype: str) -> dict[str, np.ndarray]:
    """A float32 state dict as the emitted safetensors file stores it for a model of precision ``dtype``
    (float16, or bfloat16 written as ``BF16``: :func:`twinnet.ir.precision.to_storage`); integer buffers kept."""
    dtype = check_precision(dtype)
    return {name: to_storage(array, dtype) for name, array in state.items()}
