"""What the tests of the importers' rewrites share (``common/rewrites.py``, ``relabel.py``, ``spellings.py``):
a model as an importer gives it and its rewritten form, and the check that both compute the same."""

from __future__ import annotations

import numpy as np
import torch

from twinnet.backends import to_keras, to_torch
from twinnet.backends.importers.common.rewrites import apply_rewrites

ATOL, RTOL = 1e-5, 1e-4


def rewritten(build):
    """(before, after): the model ``build`` makes, with random weights, and the rewritten one."""
    before = build().randomize(seed=3)
    return before, apply_rewrites(before)


def outputs(model, batch: int) -> list[np.ndarray]:
    """``model`` run in torch and in Keras on seeded inputs of ``batch`` samples (5 long where a length is
    symbolic; ids below 8): torch's outputs, then Keras's."""
    rng = np.random.default_rng(batch)
    xs = [
        _sample(rng, [batch if a == "N" else s or 5 for a, s in zip(t.layout, t.shape)], t.dtype) for t in model.inputs
    ]
    with torch.no_grad():
        t = to_torch(model)(*[torch.from_numpy(x) for x in xs])
    k = to_keras(model)(xs if len(xs) > 1 else xs[0], training=False)
    t, k = (list(v) if isinstance(v, (list, tuple)) else [v] for v in (t, k))
    return [np.asarray(v) for v in t + k]


def _sample(rng, shape: list[int], dtype: str) -> np.ndarray:
    """Normal floats, or for integer ids, ids below 8 (every Embedding in these tests looks up at least 8)."""
    if dtype.startswith("int"):
        return rng.integers(0, 8, shape).astype(dtype)
    return rng.standard_normal(shape).astype(np.float32)


def same_outputs(before, after) -> None:
    """``after`` computes what ``before`` does, in torch and in Keras, at batch sizes 2 and 3."""
    for batch in (2, 3):
        for a, b in zip(outputs(before, batch), outputs(after, batch)):
            np.testing.assert_allclose(b, a, atol=ATOL, rtol=RTOL)


def kinds(model) -> list[str]:
    return [n.layer.kind for n in model.layers]


def checked(build):
    """(before, after) of :func:`rewritten`, ``after`` checked to compute what ``before`` does."""
    before, after = rewritten(build)
    same_outputs(before, after)
    return before, after


def fires(build, rule: str, holds):
    """(before, after) of :func:`checked`, ``rule`` among the rewrites that fired and ``holds(after)`` true."""
    before, after = checked(build)
    assert rule in after.rewrites, after.rewrites
    assert holds(after), after.summary(print_fn=lambda s: None)
    return before, after


def stays(build, rule: str):
    """(before, after) of :func:`checked`, ``rule`` not among the rewrites that fired."""
    before, after = checked(build)
    assert rule not in after.rewrites, after.rewrites
    return before, after
