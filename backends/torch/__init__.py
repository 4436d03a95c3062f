"""The PyTorch backend: ``to_torch`` and torch source emission."""

from __future__ import annotations

from ...ir.graph import Model
from ...ir.precision import check_precision
from ..lowering.block_code import group
from ..lowering.code import identifier
from ..lowering.driver import ir_model
from ..tables import join_tables
from . import (
    activations,
    attention,
    constant,
    conv,
    conv_variants,
    core,
    merge,
    norm,
    ops_elementwise,
    ops_linalg,
    ops_movement,
    ops_norm,
    ops_reduction,
    ops_shape,
    ops_tensors,
    pooling,
    preprocessing,
    recurrent,
    slicing,
    spatial,
)
from .compile import ARG_NAMES, TorchLowering, block_call, block_class_name, instantiate, render, state_dict
from .placement import check_device, place

#: IR layer class -> lowering function; one entry per layer kind.
TABLE = join_tables(
    activations.TABLE,
    core.TABLE,
    conv.TABLE,
    conv_variants.TABLE,
    pooling.TABLE,
    norm.TABLE,
    merge.TABLE,
    recurrent.TABLE,
    spatial.TABLE,
    preprocessing.TABLE,
    attention.TABLE,
    slicing.TABLE,
    constant.TABLE,
    ops_elementwise.TABLE,
    ops_reduction.TABLE,
    ops_linalg.TABLE,
    ops_shape.TABLE,
    ops_movement.TABLE,
    ops_tensors.TABLE,
    ops_norm.TABLE,
)


def lower(model: Model, *, native_io: bool = False, expose: bool = False):
    """Lower ``model``; blocks (``twinnet.block``) become their own ``nn.Module`` classes, except with ``expose``."""
    program = TorchLowering(model, TABLE, native_io=native_io).lower(expose=expose)
    if expose:  # every layer's output is returned: keep the code flat
        return program
    return group(
        program,
        model,
        call=block_call,
        name_of=lambda kind, _: block_class_name(kind, model.name),
        attr=lambda instance: identifier(instance, TorchLowering.reserved),
        reserved=TorchLowering.reserved,
        arg_names=ARG_NAMES,
        body_ref=lambda name: f"self.{name}",
    )


def to_torch(model: Model, *, native_io: bool = False, expose: bool = False, dtype=None, device=None):
    """Compile an IR model to a ``torch.nn.Module`` (in eval mode) with the model's weights.

    Args:
        model: an initialised ``twinnet.Model``.
        native_io: take inputs / return outputs as torch holds them (channels
            first) instead of in the declared layout; no boundary transposes.
        expose: return every layer's output (for localising a mismatch).
        dtype: the precision of the module's floating parameters, buffers and inputs, ``"float32"``,
            ``"float16"`` or ``"bfloat16"`` (default: the model's, ``model.dtype``).
        device: where the module lives, ``"cpu"`` (default), ``"cuda"``, ``"cuda:1"``, ...

    Raises:
        ConfigError: an unknown dtype, or a device torch does not know or this machine does not have.

    >>> from twinnet import ir; import torch
    >>> m = ir.Sequential([ir.layers.Dense(2)], input=ir.Input((3,))).initialize(0)
    >>> to_torch(m)(torch.zeros(1, 3)).shape
    torch.Size([1, 2])
    """
    dtype, device = check_precision(dtype or ir_model(model, "torch").dtype), check_device(device)  # before the work
    program = lower(model, native_io=native_io, expose=expose)
    module = instantiate(render(program, model), program)
    module.twinnet_program = program
    return place(module, dtype, device)


def source(model: Model, *, native_io: bool = False) -> tuple[str, dict]:
    """(Python source of an nn.Module, its state dict as numpy arrays)."""
    program = lower(model, native_io=native_io)
    return render(program, model), state_dict(program)


def compile_program(program, model: Model, *, dtype=None, device=None):
    """A live ``nn.Module`` from a program :func:`lower` already made (no second lowering), in ``dtype``
    (default: the model's) on ``device`` (default: the CPU)."""
    dtype, device = check_precision(dtype or ir_model(model, "torch").dtype), check_device(device)
    module = instantiate(render(program, model), program)
    module.twinnet_program = program
    return place(module, dtype, device)


def source_of(program, model: Model) -> tuple[str, dict]:
    """:func:`source` from a program :func:`lower` already made."""
    return render(program, model), state_dict(program)
