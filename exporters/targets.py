"""The frameworks twinnet compiles to, in one table: :data:`TARGETS`.

Each :class:`Target` says how to lower an IR model for its framework, how to
turn the lowered program into a live model or into source and weights, which
suffix its weights file has, and how to run a live model on numpy arrays in
the model's *declared* layouts (:meth:`Target.runner`: the layout transposes
happen there and nowhere else). ``verify``, ``convert`` and the source
runners of :mod:`twinnet.exporters.sources` all go through it, and the
framework names the CLI offers come from it.

>>> sorted(TARGETS), TARGETS["keras"].weights_suffix
(['keras', 'torch'], '.weights.h5')
>>> TARGETS["keras"].io_layout("TNC"), TARGETS["torch"].io_layout("TNC")
('NTC', 'TNC')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


def _torch_lower(model, *, native_io: bool = False, expose: bool = False):
    from ..backends import torch as backend

    return backend.lower(model, native_io=native_io, expose=expose)


def _torch_compile(program, model, device=None):
    from ..backends import torch as backend

    return backend.compile_program(program, model, device=device)


def _torch_source(program, model) -> tuple[str, dict]:
    from ..backends import torch as backend

    return backend.source_of(program, model)


def _torch_call(net, xs: list[np.ndarray]) -> list[np.ndarray]:
    import torch

    from ..backends.torch.placement import feed, fetch

    with torch.no_grad():  # floats in the module's precision, on its device; back as float32 numpy
        return fetch(net(*feed(net, xs)))


def _keras_lower(model, *, native_io: bool = False, expose: bool = False):
    from ..backends import keras as backend

    return backend.lower(model, native_io=native_io, expose=expose)


def _keras_compile(program, model, device=None):
    from ..backends import keras as backend

    return backend.compile_program(program, model, device=device)


def _keras_source(program, model) -> tuple[str, None]:
    from ..backends import keras as backend

    return backend.source_of(program, model), None  # the weights are saved from the live model


def _keras_call(net, xs: list[np.ndarray]) -> list[np.ndarray]:
    import keras

    if keras.backend.backend() == "torch":  # no autograd record: its tensors would hold every activation
        import torch

        with torch.no_grad():
            outs = net(xs if len(xs) > 1 else xs[0], training=False)
    else:
        outs = net(xs if len(xs) > 1 else xs[0], training=False)
    return [keras.ops.convert_to_numpy(o) for o in (outs if isinstance(outs, (list, tuple)) else [outs])]


def _batch_first(layout: str) -> str:
    """Keras always holds the batch axis first: ``TNC`` -> ``NTC``."""
    return "N" + layout.replace("N", "") if "N" in layout else layout


def _as_is(layout: str) -> str:
    return layout


@dataclass(frozen=True)
class Target:
    """One framework twinnet compiles to."""

    name: str
    #: (model, native_io=, expose=) -> lowered program
    lower: Callable
    #: (program, model) -> live model
    compile: Callable
    #: (program, model) -> (source code, state dict or None when the weights come from the live model)
    source: Callable
    #: (live model, framework-layout arrays) -> framework-layout arrays
    call: Callable
    #: the emitted weights file is ``<name><weights_suffix>``
    weights_suffix: str
    #: declared layout -> the layout the framework's model takes when not ``native_io``
    io_layout: Callable[[str], str]

    def runner(self, net, model, in_layouts=None, out_layouts=None, declared_outs=None) -> Callable[[list], list]:
        """Run ``net`` on declared-layout inputs, returning declared-layout outputs.

        ``in_layouts``/``out_layouts``: the layouts ``net`` takes and returns (a
        program's ``inputs``/``output_layouts``); default: the declared ones by
        :attr:`io_layout` (how a model compiled without ``native_io`` holds them).
        ``declared_outs``: the declared layouts of what ``net`` returns (default:
        the model's outputs'; every layer's for a model compiled with ``expose``).
        """
        declared = list(declared_outs) if declared_outs is not None else [t.layout for t in model.outputs]
        ins = list(in_layouts) if in_layouts is not None else [self.io_layout(t.layout) for t in model.inputs]
        outs = list(out_layouts) if out_layouts is not None else [self.io_layout(lay) for lay in declared]

        def run(xs):
            feed = [
                np.ascontiguousarray(x.transpose([t.layout.index(a) for a in lay]))
                for x, t, lay in zip(xs, model.inputs, ins)
            ]
            return [
                np.ascontiguousarray(o.transpose([lay.index(a) for a in want]))
                for o, want, lay in zip(self.call(net, feed), declared, outs)
            ]

        return run

    def program_runner(self, net, model, program) -> Callable[[list], list]:
        """:meth:`runner` for a model compiled from ``program`` (its own I/O layouts, native or not)."""
        return self.runner(net, model, [phys for _, _, phys in program.inputs], program.output_layouts)


TARGETS: dict[str, Target] = {
    "torch": Target("torch", _torch_lower, _torch_compile, _torch_source, _torch_call, ".safetensors", _as_is),
    "keras": Target("keras", _keras_lower, _keras_compile, _keras_source, _keras_call, ".weights.h5", _batch_first),
}
#: the framework names, in the order the CLI offers them
FRAMEWORKS = tuple(TARGETS)


def target(name: str) -> Target:
    """The entry for ``name``, or a ConfigError listing the frameworks."""
    from ..ir.errors import ConfigError

    if name not in TARGETS:
        raise ConfigError(f"framework must be one of {', '.join(FRAMEWORKS)}, got {name!r}")
    return TARGETS[name]
