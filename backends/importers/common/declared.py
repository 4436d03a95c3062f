"""Declared layouts: an imported model's inputs and outputs in the axis order its user says they are in.

Keras holds every tensor batch first and has no place for a declared axis order, so ``to_keras`` of a model
whose input is ``TN`` (sequence first, as ``torch.nn.LSTM`` takes it by default) builds a Keras model that
takes the ``NT`` transpose. ``from_keras`` reads that model as it is (an ``NT`` input) unless told otherwise:
``from_keras(km, layouts={"tokens": "TN"})`` declares the input ``TN`` again. ``to_keras`` records such
layouts on the model it builds (``twinnet_layouts``: each input and output whose declared layout is not the
one the Keras model holds), and ``from_keras`` uses them when no ``layouts=`` is given, so a round trip
gives the model back. A model saved to ``.keras`` and loaded again does not keep that attribute (Keras saves
layer configurations and the graph only): pass ``layouts=`` for it.

A declared layout only reorders axes. The layers behind an input follow it where they act on axis letters
(``rebuild.LETTER_LAYERS``: an Embedding, an LSTM, a Dense, ...); any other layer gets a ``Permute`` back
to the order it read, so the model computes the same either way. An output is given in its declared layout.
Nothing here imports a framework.
"""

from __future__ import annotations

from .... import ir
from ....ir.errors import LayoutError
from .rebuild import Rebuild


def check_layouts(model: ir.Model, layouts) -> dict[str, str]:
    """``layouts`` as ``{input or output name: layout}``, each a reordering of that tensor's axes; one
    ``LayoutError`` listing every problem."""
    if layouts is None:
        return {}
    if not isinstance(layouts, dict):
        raise LayoutError(f"layouts must map input and output names to layouts, got {type(layouts).__name__}")
    tensors = {t.node.name: t for t in [*model.inputs, *model.outputs]}
    ins, outs = (", ".join(t.node.name for t in ts) for ts in (model.inputs, model.outputs))
    problems = []
    for name, layout in layouts.items():
        t = tensors.get(name)
        if t is None:
            problems.append(f"{name!r} is not an input or output of the model (inputs: {ins}; outputs: {outs})")
        elif not isinstance(layout, str) or sorted(layout) != sorted(t.spec.layout):
            problems.append(f"{name!r}: {layout!r} is not an order of its axes {t.spec.layout!r}")
    if problems:
        raise LayoutError("layouts: " + "; ".join(problems))
    return dict(layouts)


def declare_layouts(model: ir.Model, layouts) -> ir.Model:
    """``model`` with the inputs and outputs named in ``layouts`` declared in those layouts (see the module
    docstring); ``model`` itself where none changes."""
    layouts = check_layouts(model, layouts)
    if all(layouts.get(t.node.name, t.spec.layout) == t.spec.layout for t in [*model.inputs, *model.outputs]):
        return model
    rb = Rebuild(model)
    rb.output_layouts.update({id(t.node): layouts[t.node.name] for t in model.outputs if t.node.name in layouts})

    def declared(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
        layout = layouts.get(node.name) if node.is_input else None
        if layout is None or layout == node.spec.layout:
            return None
        dims = tuple(node.spec.dim(a) for a in layout if a != "N")
        return ir.Input(dims, layout=layout, dtype=node.spec.dtype, name=node.name)

    return rb.run([("declared_layout", declared)])
