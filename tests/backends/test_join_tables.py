"""backends/tables.py: tables joined from family files (lowering and importer tables), each key claimed once."""

import pytest

from twinnet.backends.tables import join_tables
from twinnet.ir.errors import ConfigError
from twinnet.ir.layers import LAYERS


def _dense_a(ctx, node, inputs):
    return inputs[0]


def _dense_b(ctx, node, inputs):
    return inputs[0]


def test_a_class_claimed_twice_is_refused():
    dense = LAYERS["Dense"]
    with pytest.raises(ConfigError, match=r"Dense is claimed twice: by .*_dense_a and by .*_dense_b"):
        join_tables({dense: _dense_a}, {LAYERS["ReLU"]: _dense_a}, {dense: _dense_b})


def test_distinct_tables_join_in_order():
    dense, relu = LAYERS["Dense"], LAYERS["ReLU"]
    assert join_tables({dense: _dense_a}, {relu: _dense_b}) == {dense: _dense_a, relu: _dense_b}


@pytest.mark.parametrize("backend", ["keras", "torch", "onnx"])
def test_the_real_tables_join(backend):
    """Each backend's family tables are disjoint and their union is its TABLE."""
    import importlib

    pkg = importlib.import_module(f"twinnet.backends.{backend}")
    families = [
        getattr(pkg, name).TABLE
        for name in (
            "activations",
            "attention",
            "constant",
            "conv",
            "conv_variants",
            "core",
            "merge",
            "norm",
            "pooling",
            "preprocessing",
            "recurrent",
            "slicing",
            "spatial",
            "ops_elementwise",
            "ops_reduction",
            "ops_linalg",
            "ops_shape",
            "ops_movement",
            "ops_tensors",
            "ops_norm",
        )
    ]
    assert join_tables(*families) == pkg.TABLE
    assert sum(map(len, families)) == len(pkg.TABLE)


def test_a_key_is_named_with_the_table():
    with pytest.raises(ConfigError, match=r"demo: 'Conv' is claimed twice"):
        join_tables({"Conv": _dense_a}, {"Conv": _dense_b}, what="demo")


def test_order_is_kept_across_tables():
    assert list(join_tables({"Relu": 1}, {}, {"Conv": 2, "Pad": 3}, what="demo")) == ["Relu", "Conv", "Pad"]


def test_the_torch_importer_tables_join():
    """The torch importer's module, function and method tables are joined from disjoint family tables."""
    from twinnet.backends.importers.torch import tables

    assert tables.MODULE_TABLE and tables.FUNCTION_TABLE and tables.METHOD_TABLE
