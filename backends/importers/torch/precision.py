"""Half-precision and GPU modules: ``from_torch`` imports a float32 CPU copy and records the precision.

A module whose floating parameters and buffers are float16 or bfloat16 (``module.half()``,
``module.to(torch.bfloat16)``), or that lives on a GPU, is copied once to the CPU in float32 (every half
value is exactly a float32 value), the copy is imported as any module is, and the IR model's ``dtype`` is
set to the module's precision: ``to_torch``/``to_keras`` then compile it back in that precision. Floating
example inputs are cast to float32 on the CPU with it. The module itself is not changed.
"""

from __future__ import annotations

import copy

from ..common.problems import Problem, unsupported


def module_precision(module) -> str:
    """``"float32"``, ``"float16"`` or ``"bfloat16"``: the one precision of ``module``'s floating tensors
    (float32 for a module without any).

    Raises:
        UnsupportedError: floating parameters or buffers in more than one precision.
    """
    import torch

    names = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}
    counts: dict[str, int] = {}
    for tensor in [*module.parameters(), *module.buffers()]:
        if tensor.dtype.is_floating_point:
            kind = names.get(tensor.dtype, str(tensor.dtype).removeprefix("torch."))
            counts[kind] = counts.get(kind, 0) + 1
    if len(counts) > 1 or (counts and next(iter(counts)) not in names.values()):
        listed = ", ".join(f"{kind}: {n} tensor(s)" for kind, n in counts.items())
        reason = f"parameters and buffers must share one precision, float32, float16 or bfloat16; found {listed}"
        name = type(module).__name__
        raise unsupported(f"torch module {name!r}", [Problem("(module)", name, reason)])
    return next(iter(counts), "float32")


def as_float32_cpu(module, example_inputs, example_kwargs):
    """(precision, module, inputs, kwargs): ``module`` itself when float32 on the CPU, else a float32 CPU copy."""
    import torch

    if not isinstance(module, torch.nn.Module):  # from_torch names the problem (it takes a torch.nn.Module)
        return "float32", module, example_inputs, example_kwargs
    dtype = module_precision(module)
    on_cpu = all(t.device.type == "cpu" for t in [*module.parameters(), *module.buffers()])
    if dtype == "float32" and on_cpu:
        return dtype, module, example_inputs, example_kwargs

    def cast(value):
        if isinstance(value, torch.Tensor):
            value = value.cpu()
            return value.float() if value.is_floating_point() else value
        if isinstance(value, (tuple, list)):
            return type(value)(cast(v) for v in value)
        if isinstance(value, dict):
            return {k: cast(v) for k, v in value.items()}
        return value

    copied = copy.deepcopy(module).to(device="cpu", dtype=torch.float32)
    return dtype, copied, cast(example_inputs), cast(example_kwargs)
