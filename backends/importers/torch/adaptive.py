"""Adaptive pooling (``nn.AdaptiveAvgPool1d/2d``, ``nn.AdaptiveMaxPool1d/2d``) as the IR's windowed pools.

torch splits an axis of size ``n`` into ``m`` bins, bin ``i`` covering
``floor(i * n / m)`` to ``ceil((i + 1) * n / m)`` (end excluded). Both the
mean and the max over a rectangle of bins are separable: pooling H, then W,
gives the same numbers as pooling both at once. So each axis is handled on its
own, in the simplest form that covers its bins:

* ``m == 1``: the whole axis, and when every axis is so, global pooling;
* ``m == n``: nothing to do;
* bins of one size ``k`` starting every ``s`` positions (``n`` a multiple of
  ``m`` is the common case: ``k = s = n / m``): one windowed pool;
* otherwise, where bins overlap unevenly or repeat (``n < m``): one slice
  (and a pool over it, if longer than one) per distinct bin, concatenated.

The sizes must be known when importing (they are, for images of fixed size).
"""

from __future__ import annotations

from ....ir import layers as L
from ....ir.errors import UnsupportedError

POOLS = {
    ("avg", 1): (L.AvgPool1D, L.GlobalAvgPool1D),
    ("avg", 2): (L.AvgPool2D, L.GlobalAvgPool2D),
    ("max", 1): (L.MaxPool1D, L.GlobalMaxPool1D),
    ("max", 2): (L.MaxPool2D, L.GlobalMaxPool2D),
}


def bins(n: int, m: int) -> list[tuple[int, int]]:
    """torch's adaptive bins: ``m`` (start, stop) pairs over an axis of size ``n``."""
    return [((i * n) // m, -((-(i + 1) * n) // m)) for i in range(m)]


def regular(spans: list[tuple[int, int]]) -> tuple[int, int] | None:
    """(window, stride) when the bins are one window sliding by one stride, else None."""
    sizes = {stop - start for start, stop in spans}
    steps = {b[0] - a[0] for a, b in zip(spans, spans[1:])} or {1}
    if len(sizes) == 1 and len(steps) == 1 and spans[0][0] == 0 and min(steps) > 0:
        return sizes.pop(), steps.pop()
    return None


def adaptive(ctx, call, x, nd: int, kind: str, output_size):
    """``x`` (``N, C, spatial...``) pooled to ``output_size`` with torch's adaptive bins."""
    pool, global_pool = POOLS[kind, nd]
    wanted = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,) * nd
    if all(m == 1 for m in wanted):  # any length, known or not
        return ctx.add(call, global_pool(keepdims=True), [x])
    sizes = [x.spec.dim(a) for a in x.layout[2:]]
    if any(n is None for n in sizes):
        raise UnsupportedError(
            f"output_size={output_size} needs known input sizes to place its bins, got {tuple(sizes)}"
        )
    outs = [n if m is None else m for n, m in zip(sizes, wanted)]
    steps = []  # (axis index, window, stride) or (axis index, spans)
    for i, (n, m) in enumerate(zip(sizes, outs)):
        if n == m:
            continue
        spans = bins(n, m)
        found = regular(spans)
        steps.append((i, *found) if found else (i, spans))
    if not steps:
        return ctx.add(call, L.Identity(), [x])
    # every axis a single pool: one layer
    if all(len(step) == 3 for step in steps):
        window, stride = [1] * nd, [1] * nd
        for i, k, s in steps:
            window[i], stride[i] = k, s
        return ctx.add(call, pool(tuple(window), strides=tuple(stride)), [x])
    for j, step in enumerate(steps):
        last = j == len(steps) - 1
        x = _axis(ctx, call, x, nd, pool, step, last)
    return x


def _axis(ctx, call, x, nd: int, pool, step, last: bool):
    """Pool one axis (``step``: its index and either (window, stride) or its bins)."""
    name = call.name if last else ctx.claim(f"{call.name}_axis{step[0]}")
    if len(step) == 3:
        i, k, s = step
        window, stride = [1] * nd, [1] * nd
        window[i], stride[i] = k, s
        return ctx.add(call, pool(tuple(window), strides=tuple(stride)), [x], name=name, check=last)
    i, spans = step
    axis = x.layout[2 + i]
    parts: dict[tuple[int, int], object] = {}
    for start, stop in spans:
        if (start, stop) in parts:
            continue
        part = ctx.add(
            call, L.Slice(axis, start, stop), [x], name=ctx.claim(f"{call.name}_{axis}{start}_{stop}"), check=False
        )
        if stop - start > 1:
            window = [1] * nd
            window[i] = stop - start
            part = ctx.add(
                call, pool(tuple(window)), [part], name=ctx.claim(f"{call.name}_{axis}{start}_{stop}_pool"), check=False
            )
        parts[start, stop] = part
    return ctx.add(call, L.Concatenate(axis=axis), [parts[span] for span in spans], name=name, check=last)
