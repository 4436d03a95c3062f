"""An emitted ``forward`` lets go of each activation once it is consumed, as hand-written code does."""

import gc
import weakref

import numpy as np
import torch

from twinnet import ir
from twinnet.backends import to_torch
from twinnet.backends.torch import source
from twinnet.backends.torch.reuse import reuse_names
from twinnet.ir import layers as L


def residual():
    x = ir.Input((8, 8, 3), name="image")
    h = L.Conv2D(4, 3, padding="same", name="stem")(x)
    a = L.Conv2D(4, 3, padding="same", name="a")(h)
    b = L.BatchNorm(name="bn")(L.Conv2D(4, 3, padding="same", name="b")(a))
    out = L.Dense(2, name="head")(L.GlobalAvgPool2D(name="pool")(L.Add(name="add")([h, b])))
    return ir.Model(x, out, name="net").randomize(0)


def test_a_chain_shares_one_name_and_branches_keep_theirs():
    code, _ = source(residual())
    forward = code.split("def forward(self, image):")[1].split("return")[0]
    assert "x = self.b(x)" in forward and "x = self.bn(x)" in forward  # a chain: each value replaces the last
    assert "stem = self.stem(" in forward  # read twice (the conv and the skip): keeps its own name
    assert "head = self.head(x)" in forward  # returned: keeps its name


def test_outputs_are_unchanged_and_each_activation_is_freed_once_read():
    model = residual()
    tm = to_torch(model)
    alive = []

    def keep_ref(module, inputs, output):
        alive.append(weakref.ref(output))

    def freed(module, inputs, output):
        gc.collect()
        alive.append(alive[0]() is None)

    tm.a.register_forward_hook(keep_ref)  # the output of `a` is read only by `b`
    tm.b.register_forward_hook(freed)
    tm.bn.register_forward_hook(freed)
    x = torch.randn(2, 8, 8, 3)
    with torch.no_grad():
        out = tm(x)
    assert alive[1:] == [False, True]  # still held while `b` runs, gone once `b`'s output replaced it
    reference = to_torch(model, expose=True)  # every layer returned: nothing renamed
    with torch.no_grad():
        np.testing.assert_allclose(out.numpy(), reference(x)[-1].numpy(), atol=1e-6, rtol=1e-6)


def test_what_it_leaves_alone():
    # a value read two statements on keeps its name; the one between is a chain of its own
    assert reuse_names(["a = f(p)", "b = g(p)", "c = a + b"], ["p"], {"c"}) == ["a = f(p)", "x = g(p)", "c = a + x"]
    # read inside a lambda (run later), bound twice, or returned: left as written
    assert reuse_names(["a = f(p)", "b = (lambda: a)()"], ["p"], {"b"}) == ["a = f(p)", "b = (lambda: a)()"]
    assert reuse_names(["a = f(p)", "a = g(a)", "b = h(a)"], ["p"], {"b"}) == ["a = f(p)", "a = g(a)", "b = h(a)"]
    # a name the code already uses is not the chain's
    assert reuse_names(["x = f(p)", "b = g(x)"], ["p"], {"b"}) == ["h = f(p)", "b = g(h)"]
    # comments between statements do not break a chain
    assert reuse_names(["a = f(p)", "# note", "b = g(a)"], ["p"], {"b"}) == ["x = f(p)", "# note", "b = g(x)"]
