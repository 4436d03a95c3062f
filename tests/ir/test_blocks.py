"""Block marks (``ir.block``): naming, validation (GraphError naming the block), files (format v2, v1 migration)."""

import json

import pytest

from twinnet import ir
from twinnet.backends import emit
from twinnet.ir import layers as L


def _dense_chain(marks):
    """x -> d0 -> d1 -> d2 -> d3, each Dense(4) marked with ``marks[i]`` (``None``: no block)."""
    x = ir.Input((4,), name="x")
    h = x
    for i, mark in enumerate(marks):
        if mark is None:
            h = L.Dense(4, name=f"d{i}")(h)
        else:
            with ir.block(*mark):
                h = L.Dense(4, name=f"d{i}")(h)
    return x, h


def _configs_differ():
    x = ir.Input((4,), name="x")
    with ir.block("Fc", "a"):
        h = L.Dense(4, name="a_fc")(x)
    with ir.block("Fc", "b"):
        h = L.Dense(4, activation="relu", name="b_fc")(h)
    return x, h


def _not_connected():
    x = ir.Input((4,), name="x")
    with ir.block("Two", "t"):
        a, b = L.Dense(4, name="t_a")(x), L.Dense(4, name="t_b")(x)
    return x, L.Add(name="sum")([a, b])


def _leaves_and_returns():
    x = ir.Input((4,), name="x")
    with ir.block("Res", "r"):
        a = L.Dense(4, name="r_a")(x)
    o = L.Dense(4, name="outside")(a)
    with ir.block("Res", "r"):
        y = L.Add(name="r_add")([a, o])
    return x, y


def _wired_differently():
    x = ir.Input((4,), name="x")
    with ir.block("Res", "r0"):
        h = L.Add(name="r0_add")([x, L.Dense(4, name="r0_fc")(x)])
    with ir.block("Res", "r1"):
        h = L.Add(name="r1_add")([L.Dense(4, name="r1_fc")(h), L.Dense(4, name="r1_fc")(h)])
    return x, h


@pytest.mark.parametrize(
    "make,message",
    [
        (
            _configs_differ,
            "block Fc 'b': differs from instance 'a' of the same kind: layer 0 (Dense) has another config",
        ),
        (
            lambda: _dense_chain([("K", "k0"), ("K", "k1"), ("K", "k1"), None]),
            "block K 'k1': differs from instance 'k0' of the same kind: 2 layers instead of 1",
        ),
        (_not_connected, "block Two 't': its layers form 2 separate pieces; a block must be one connected region"),
        (
            _leaves_and_returns,
            "block Res 'r': layer 'r_add' takes 'outside', which is outside the block but computed "
            "from it; a block must run as one call",
        ),
        (
            lambda: _dense_chain([("A", "z"), ("B", "z"), None, None]),
            "block A 'z': instance name 'z' is used by blocks A and B",
        ),
        (
            lambda: _dense_chain([("A", "d3"), None, None, None]),
            "block A 'd3': the instance name is also a layer's name",
        ),
    ],
    ids=["configs", "layer-count", "disconnected", "leaves-and-returns", "two-kinds", "clashes-with-layer"],
)
def test_bad_blocks_are_refused_naming_the_block(make, message):
    with pytest.raises(ir.GraphError) as err:
        ir.Model(*make())
    assert str(err.value).startswith(message), str(err.value)


def test_block_arguments_are_checked():
    with pytest.raises(ir.ConfigError, match="block: block kind must be an identifier, got 'Basic Block'"):
        with ir.block("Basic Block"):
            pass
    with pytest.raises(ir.ConfigError, match="block A: block name must be an identifier, got 3"):
        with ir.block("A", 3):
            pass
    with pytest.raises(ir.ConfigError, match="block B: blocks do not nest: 'B' opened inside A 'outer'"):
        with ir.block("A", "outer"):
            with ir.block("B"):
                pass
    with ir.block("A"):  # the failed nesting left the stack clean
        assert ir.blocks.current()[0] == "A"
    assert ir.blocks.current() is None


@pytest.mark.parametrize("mark", [["Fc"], ["Fc", "a b"], "Fc", ["Fc", 3]])
def test_bad_block_field_in_a_file(mark):
    data = ir.to_dict(ir.Model(*_dense_chain([("Fc", "a"), None])))
    data["layers"][0]["block"] = mark
    with pytest.raises(ir.SchemaError, match=r"layer 'd0': 'block' must be \[kind, instance name\], two identifiers"):
        ir.from_dict(data)


def test_bad_marks_in_a_file_are_schema_errors():
    data = ir.to_dict(ir.Model(*_dense_chain([("Fc", "a"), ("Fc", "b")])))
    data["layers"][1]["config"]["activation"] = "relu"
    with pytest.raises(ir.SchemaError, match="model: block Fc 'b': differs from instance 'a'"):
        ir.from_dict(data)


def test_json_round_trip_keeps_marks_and_v1_files_load(tmp_path):
    model = ir.Model(*_dense_chain([None, ("Fc", "fc_0"), ("Fc", "fc_1"), None]), name="chain").initialize(0)
    data = ir.to_dict(model)
    assert data["format_version"] == ir.FORMAT_VERSION
    assert "block" not in data["layers"][0]  # a layer of no block has no field
    assert data["layers"][1]["block"] == ["Fc", "fc_0"]
    back = ir.load(ir.save(model, tmp_path / "m.json"))
    assert [n.block for n in back.layers] == [n.block for n in model.layers]
    assert ir.to_dict(back) == data
    v1 = json.loads(json.dumps(data))
    v1["format_version"] = 1
    for entry in v1["layers"]:
        entry.pop("block", None)
    old = ir.from_dict(v1)
    assert ir.to_dict(old)["format_version"] == ir.FORMAT_VERSION and all(n.block is None for n in old.layers)
    assert "class Fc" not in emit(old.set_weights(model.weights), "torch")
    assert emit(model, "torch").count("class Fc(nn.Module)") == 1


def test_generated_names_never_clash():
    """An unnamed block "Dense" and unnamed Dense layers outside it: names stay unique."""
    x = ir.Input((3,), name="x")
    h = L.Dense(3)(x)
    with ir.block("Dense"):
        h = L.Dense(3)(h)
    with ir.block("Dense"):
        h = L.Dense(3)(h)
    model = ir.Model(x, L.Dense(3, name="dense_2")(h))
    assert [(n.name, n.block) for n in model.layers] == [
        ("dense_3", None),
        ("dense_dense", ("Dense", "dense")),
        ("dense_1_dense", ("Dense", "dense_1")),
        ("dense_2", None),
    ]
