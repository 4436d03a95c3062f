"""Running a large Keras functional model one segment at a time, so it never holds every layer's output.

A Keras functional model keeps the output of each of its layers until its call returns: a 224-px
ResNet50 holds some 190 MiB per image beside its 98 MiB of weights, and that was the peak of a whole
``convert``. :func:`segmented` splits the model at its *cuts*, the tensors that everything after them
reads through (a residual stage's output, a plain chain's every step), into sub-models built on the
original layers (``keras.Model(tensor, tensor)``: the same layers and variables, nothing copied), and
:class:`Segments` calls them in turn, so only one segment's outputs are alive at a time. The same
layers run on the same values in the same order, so the outputs are the whole model's.

Masks do not cross a sub-model's boundary, so a model where any tensor carries one (``Embedding(...,
mask_zero=True)``, ``Masking``) runs whole, as does one whose graph is not a plain DAG of single calls
(a layer called twice), has several inputs or outputs, or has no cut worth making.
"""

from __future__ import annotations

#: layers (and ops) a segment holds at least (the last one too), so a long chain is not cut at every step
MIN_LAYERS = 8


class Segments:
    """The sub-models of :func:`segmented`, called one after another like the model they came from."""

    def __init__(self, parts):
        self.parts = parts

    def __call__(self, x, training=False):
        for part in self.parts:
            x = part(x, training=training)
        return x


def segmented(km, min_layers: int = MIN_LAYERS):
    """``km`` as :class:`Segments`, or ``km`` itself where it cannot be cut (see the module docstring)."""
    import keras

    if not isinstance(km, keras.Model) or len(km.inputs) != 1 or len(km.outputs) != 1:
        return km
    ops = [op for op in getattr(km, "operations", []) if not isinstance(op, keras.layers.InputLayer)]
    if any(isinstance(op, keras.layers.Masking) or getattr(op, "mask_zero", False) for op in ops):
        return km
    try:  # a layer called more than once has no single input and output: ValueError / AttributeError
        ins = [[t for t in _flat(op.input) if isinstance(t, keras.KerasTensor)] for op in ops]
        outs = [[t for t in _flat(op.output) if isinstance(t, keras.KerasTensor)] for op in ops]
    except (AttributeError, ValueError):
        return km
    source, result = km.inputs[0], km.outputs[0]
    if any(getattr(t, "_keras_mask", None) is not None for ts in outs for t in ts):
        return km
    made = {id(source): -1} | {id(t): i for i, ts in enumerate(outs) for t in ts}
    if any(made.get(id(t), len(ops)) >= i for i, ts in enumerate(ins) for t in ts):
        return km  # not in the order it runs, or reading something the model does not make
    last = {id(t): i for i, ts in enumerate(ins) for t in ts} | {id(result): len(ops)}
    cuts, alive, start = [], {id(source)}, -1
    for i, ts in enumerate(outs):
        alive = {t for t in alive | {id(t) for t in ts} if last.get(t, -1) > i}
        if min(i - start, len(ops) - 1 - i) >= min_layers and len(ts) == 1 and alive == {id(ts[0])}:
            cuts.append(ts[0])
            start = i
    if not cuts:
        return km
    ends = [source, *cuts, result]
    return Segments([keras.Model(a, b, name=f"{km.name}_part{k}") for k, (a, b) in enumerate(zip(ends, ends[1:]))])


def _flat(value) -> list:
    if isinstance(value, dict):
        return [t for v in value.values() for t in _flat(v)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _flat(v)]
    return [value]
