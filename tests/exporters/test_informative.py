"""Informativeness: a comparison that could not have failed is flagged, in the rows, the report, the table and JSON."""

import numpy as np

from twinnet import ir
from twinnet.exporters import verify
from twinnet.exporters.informative import MIN_SIGNAL, Spread
from twinnet.ir import layers as L

PATHS = ("keras", "torch")


def small():
    x = ir.Input((8, 8, 2), name="x")
    h = L.Conv2D(4, 3, padding="same", name="conv")(x)
    h = L.Dense(3, name="head")(L.Flatten(name="flat")(L.Activation("gelu", name="act")(h)))
    return ir.Model(x, h, name="small").randomize(0)


def dominated():
    """A bias of 1e4 against kernels of 1e-3: the output moves by ~1e-2, under rtol * 1e4 = 1."""
    x = ir.Input((6,), name="x")
    model = ir.Model(x, L.Dense(2, name="head")(x), name="dominated").randomize(0)
    model.weights["head/kernel"] = np.full((6, 2), 1e-3, np.float32)
    model.weights["head/bias"] = np.full((2,), 1e4, np.float32)
    return model


def test_a_varying_output_is_informative():
    report = verify(small(), paths=PATHS)
    assert report.ok and report.informative, report.table()
    assert all(r.informative and r.signal >= MIN_SIGNAL for r in report.rows)
    assert report.to_dict()["informative"] is True and report.to_dict()["uninformative"] == []
    assert report.table().rstrip().endswith("OK: every pair agrees")


def test_an_output_dominated_by_a_constant_is_flagged():
    report = verify(dominated(), paths=PATHS)
    assert report.ok and not report.informative, report.table()
    assert report.uninformative() == ["head"]
    assert all(r.informative is False and r.signal < MIN_SIGNAL for r in report.rows)
    d = report.to_dict()
    assert d["ok"] is True and d["informative"] is False and d["uninformative"] == ["head"]
    assert all(row["informative"] is False and row["weights"] == "real" for row in d["rows"])
    table = report.table()
    assert "pass (uninformative)" in table and "UNINFORMATIVE: every pair agrees, but head" in table


def test_randomize_adds_a_sensitive_check():
    """The random copy's bias is O(0.3): the same kernels now move the output by many tolerances."""
    report = verify(dominated(), paths=PATHS, randomize=True)
    assert report.ok and report.informative, report.table()
    assert {r.weights for r in report.rows} == {"real", "randomized"}
    assert all(r.informative for r in report.rows if r.weights == "randomized")
    assert "keras vs torch (randomized)" in report.table()


def test_one_sample_proves_nothing():
    x = np.random.default_rng(0).standard_normal((1, 8, 8, 2)).astype(np.float32)
    report = verify(small(), inputs=[x], paths=PATHS)
    assert report.ok and not report.informative
    two = np.concatenate([x, -x])
    assert verify(small(), inputs={"x": two}, paths=PATHS).informative


def test_signal_is_the_largest_spread_over_tolerance():
    spread = Spread()
    base = np.array([[1.0, 100.0], [1.0, 100.0]])
    shape = spread.add("p", "y", base, "NC")
    spread.add("p", "y", base + np.array([[0.0, 0.5]]), "NC")  # a second case of the same sample shape
    # element 0 never moves; element 1 moves 0.5 against 1e-5 + 1e-4 * 100.5
    assert np.isclose(spread.signal("p", "y", shape, 1e-5, 1e-4), 0.5 / (1e-5 + 1e-4 * 100.5))
    assert spread.signal("p", "y", shape, 0.0, 0.0) > 1e300  # nothing tolerated: any movement shows
    assert spread.signal("q", "y", shape, 1e-5, 1e-4) == 0.0  # a path never seen shows nothing
