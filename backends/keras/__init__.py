"""The Keras 3 backend: ``to_keras`` and Keras source emission."""

from __future__ import annotations

from ...ir.graph import Model
from ...ir.precision import check_precision
from ...ir.training.spec import training_spec
from ..lowering.block_code import group
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
from .compile import (
    ARG_NAMES,
    KerasLowering,
    batch_first,
    block_call,
    block_function_name,
    channels_last,
    instantiate,
    render,
)

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
    """Lower ``model`` to a Keras :class:`~twinnet.backends.lowering.code.Program`; blocks become builder functions."""
    program = KerasLowering(model, TABLE, native_io=native_io).lower(expose=expose)
    if expose:  # every layer's output is returned: keep the code flat
        return program
    return group(
        program,
        model,
        call=block_call,
        name_of=lambda kind, used: block_function_name(kind, used, model),
        keras_names=True,
        reserved=KerasLowering.reserved,
        arg_names=ARG_NAMES,
    )


def to_keras(model: Model, *, native_io: bool = False, expose: bool = False, training=None, dtype=None):
    """Compile an IR model to a ``keras.Model`` with the model's weights.

    Args:
        model: an initialised ``twinnet.Model``.
        native_io: take inputs / return outputs as Keras holds them (channels
            last) instead of in the declared layout with the batch axis moved
            to the front; no boundary transposes.
        expose: return every layer's output (for localising a mismatch).
        training: a :class:`twinnet.ir.training.TrainingSpec`, or ``True`` for
            the one the model carries (``model.training``): the model comes back
            compiled for it (optimizer, loss, metrics), ready for ``fit``.
        dtype: the precision the model computes in, ``"float32"``, ``"float16"`` or ``"bfloat16"``
            (default: the model's, ``model.dtype``); half precision builds under Keras's ``mixed_<dtype>``
            policy (variables in float32 holding values rounded to the half grid).

    Returns:
        A functional ``keras.Model`` built from standard layers only; the
        lowered program is attached as ``twinnet_program``.

    >>> from twinnet import ir; import numpy as np
    >>> m = ir.Sequential([ir.layers.Dense(2)], input=ir.Input((3,))).initialize(0)
    >>> tuple(to_keras(m)(np.zeros((1, 3), "float32")).shape)
    (1, 2)
    """
    dtype = check_precision(dtype or ir_model(model, "keras").dtype)
    spec = training_spec(model, training)
    program = lower(model, native_io=native_io, expose=expose)
    km = instantiate(render(program, model, dtype), program, dtype)
    try:
        km.twinnet_program = program
        km.twinnet_layouts = declared_layouts(model, native_io)
    except (AttributeError, TypeError, ValueError):  # Keras may refuse new attributes; the program is optional
        pass
    if spec is not None:
        from .training import compile_for

        compile_for(km, spec)
    return km


def declared_layouts(model: Model, native_io: bool = False) -> dict[str, str]:
    """``{name: layout}`` of the model's inputs and outputs that the Keras model does not hold in their declared
    layout (a ``TNC`` input is held ``NTC``; with ``native_io`` an ``NCHW`` one ``NHWC``), for ``from_keras`` to
    declare them so again."""
    held = channels_last if native_io else batch_first
    tensors = [*model.inputs, *model.outputs]
    return {t.node.name: t.spec.layout for t in tensors if held(t.spec.layout) != t.spec.layout}


def source(model: Model, *, native_io: bool = False) -> str:
    """Python source of a module defining ``build_<model name>()``; weights go in ``<file>.weights.h5``."""
    return render(lower(model, native_io=native_io), model)


def compile_program(program, model: Model, *, dtype=None, device=None):
    """A live ``keras.Model`` from a program :func:`lower` already made (no second lowering), in ``dtype``
    (default: the model's). ``device`` is not used: Keras runs where TensorFlow places it."""
    dtype = check_precision(dtype or ir_model(model, "keras").dtype)
    km = instantiate(render(program, model, dtype), program, dtype)
    try:
        km.twinnet_program = program
        km.twinnet_layouts = declared_layouts(model, program.native_io)
    except (AttributeError, TypeError, ValueError):
        pass
    return km


def source_of(program, model: Model) -> str:
    """:func:`source` from a program :func:`lower` already made."""
    return render(program, model)
