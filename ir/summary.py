"""The text table behind ``Model.summary()``."""

from __future__ import annotations

import math

from .tensor import fmt_shape


def summary_table(model) -> str:
    rows = [("Layer (kind)", "Output shape", "Layout", "Params", "Inputs")]
    for node in model.nodes:
        kind = "Input" if node.is_input else node.layer.kind
        params = sum(math.prod(s.shape) for s in node.weight_specs().values())
        rows.append(
            (
                f"{node.name} ({kind})",
                fmt_shape(node.spec),
                node.spec.layout,
                f"{params:,}",
                ", ".join(t.name for t in node.inputs),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    line = "-" * (sum(widths) + 2 * (len(widths) - 1))

    def fmt(row):
        return "  ".join(c.rjust(w) if i == 3 else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()

    out = [f'Model: "{model.name}"', line, fmt(rows[0]), line.replace("-", "=")]
    out += [fmt(r) for r in rows[1:]]
    total = model.count_params()
    out += [line, f"Total params: {total:,}", "Outputs: " + ", ".join(f"{t.name} {t.spec}" for t in model.outputs)]
    return "\n".join(out)
