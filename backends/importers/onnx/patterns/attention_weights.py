"""The attention rule's last steps (``attention.py``): the IR weights from the file's
projections, whether a value is the block's output in the query's order, and which ops the fused op replaces.

Weights are the IR's: ``query/kernel (E, H, d)`` etc. taken column by column as the code tensors showed
(``heads[role]``: the projected column of each head's feature), the output kernel's rows put back in
(head, feature) order, and constants exporters add after a projection (Keras adds its ``(H, d)`` bias after
splitting heads; tf2onnx adds the output bias after reshaping) folded into that projection's bias, when they
add one number per column.
"""

from __future__ import annotations

import numpy as np

from ..graph import Graph, Op
from .attention_skeleton import projection
from .evaluator import NoMatch


def per_column_bias(bias, columns: int, added: list, what: str):
    """``bias`` (or zeros) plus each ``(codes, values)`` constant added along the way, which must add one
    number per projected column (codes % columns says which column each element is)."""
    for codes, values in added:
        bias = np.zeros(columns, np.float32) if bias is None else bias.copy()
        cols, values = (codes % columns).reshape(-1), values.reshape(-1)
        per = np.zeros(columns, np.float64)
        per[cols] = values
        if np.any(per[cols] != values):
            raise NoMatch(f"a constant added to the {what} differs along the sequence", stage=2)
        bias = (bias + per).astype(np.float32)
    return bias


def attention_weights(
    g: Graph, proj: dict, heads: dict, output: tuple, chain_biases: dict, out_biases: list
) -> dict[str, np.ndarray]:
    """The IR layer's weights; ``output`` is (output projection, the file's row order of its kernel)."""
    out_proj, rows = output
    w, biases = {}, []
    for role in ("query", "key", "value"):
        kernel, bias = projection(g, proj[role])[:2]
        bias = per_column_bias(bias, kernel.shape[1], chain_biases[role], role)
        cols = heads[role]
        w[f"{role}/kernel"] = kernel[:, cols]
        biases.append((f"{role}/bias", None if bias is None else bias[cols], cols.shape))
    kernel, bias = projection(g, out_proj)[:2]
    bias = per_column_bias(bias, kernel.shape[1], out_biases, "output")
    h, dv = heads["value"].shape
    ordered = np.empty_like(kernel)
    ordered[rows] = kernel  # row f of the file's matrix holds head rows[f] // dv, feature rows[f] % dv
    w["attention_output/kernel"] = ordered.reshape(h, dv, -1)
    biases.append(("attention_output/bias", bias, (kernel.shape[1],)))
    if any(b is not None for _, b, _ in biases):
        for key, b, shape in biases:
            w[key] = np.zeros(shape, np.float32) if b is None else b
    return w


def is_output(y: np.ndarray, layout: str, batch: int, steps: int, e_out: int) -> bool:
    """Whether code tensor ``y`` holds the output projection's result in the query's order (``NTC``/``TNC``)."""
    want = (batch, steps, e_out) if layout == "NTC" else (steps, batch, e_out)
    if y.shape != want:
        return False
    pos, feature = y // e_out, y % e_out
    b, t = np.meshgrid(np.arange(batch), np.arange(steps), indexing="ij")
    if layout == "TNC":
        b, t = b.T, t.T
    return bool(np.all(feature == np.arange(e_out)) and np.all(pos == (b * steps + t)[..., None]))


def removable(g: Graph, ops: list[Op], final: str) -> list[Op]:
    """The ops of the block no one else reads (shape computations shared with others stay)."""
    keep = list(dict.fromkeys(ops))
    changed = True
    while changed:
        changed = False
        for op in list(keep):
            for o in op.outputs:
                if o and o != final and (o in g.outputs or any(c not in keep for c in g.consumers.get(o, []))):
                    keep.remove(op)
                    changed = True
                    break
    return keep
