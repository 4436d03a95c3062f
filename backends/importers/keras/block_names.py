"""Blocks read from Keras layer names: ``conv2_block1_1_conv`` belongs to block instance ``conv2_block1``.

Keras's applications name each layer after the repeated block it belongs to
(ResNet ``conv2_block1_...``, DenseNet ``conv2_block1_0_bn``, MobileNetV2
``block_1_expand``, EfficientNet ``block1a_dwconv``, Xception and VGG
``block2_sepconv1``). ``from_keras(..., blocks=True)`` turns those names into
``twinnet.block`` marks, so the emitters write each block kind once. The rule is
conservative, and nothing is ever marked whose name does not say so:

1. A layer belongs to instance ``P`` when its name is ``P_<more>`` and ``P``
   is ``conv<i>_block<j>``, ``block_<i>`` or ``block<i>`` with an optional
   letter (``block1a``); every other layer is left unmarked.
2. An instance is kept only if it has at least two layers, no layer is
   named ``P`` itself, and its layers read exactly one tensor from outside
   (single entry; ResNet50V2's blocks with an unprefixed shortcut pool read
   two, so they stay inline).
3. ``ir.blocks.settle`` then drops any instance that is not one connected
   region running as one call, and gives instances the same kind exactly
   when their layers, configs (names aside) and wiring match; a ResNet
   stage's first block, with its shortcut convolution, is a kind of its own.
4. Only repeated kinds stay marked, and kinds with one instance that are
   alike another kind but for their channel counts (``filters``, ``units``):
   the emitters write those as one class / function with the channel counts
   as parameters (a ResNet stage's first block, with its shortcut
   convolution, in stages 3 to 5; MobileNetV2's stride-2 blocks). Any other
   kind with one instance (ResNet50's ``conv2_block1``, whose shortcut has
   stride 1) gains nothing from being written once and stays inline. Each
   kind is named after its first instance (``conv2_block2`` ->
   ``Conv2Block2``, also used by ``conv2_block3``).

>>> from twinnet import ir
>>> from twinnet.ir import layers as L
>>> x = ir.Input((4,), name="x")
>>> h = x
>>> for i in (1, 2, 3):
...     h = L.Dense(4 if i < 3 else 5, name=f"block_{i}_fc2")(L.Dense(4, name=f"block_{i}_fc1")(h))
>>> h = L.Dense(4, activation="relu", name="block_4_fc2")(L.Dense(4, name="block_4_fc1")(h))
>>> mark_blocks([h])
>>> model = ir.Model(x, h)
>>> model.node("block_2_fc1").block, model.node("block_3_fc1").block  # block_3: alike block_1 but for a width
(('Block1', 'block_2'), ('Block3', 'block_3'))
>>> model.node("block_4_fc2").block  # another activation, and alone: inline

"""

from __future__ import annotations

import re

from .... import ir

# The instance is the name's prefix up to the "_" after it (at least one more character must follow).
PREFIX = re.compile(r"^(conv[0-9]+_block[0-9]+|block_[0-9]+|block[0-9]+[a-z]?)_.")


def instance_of(name: str) -> str | None:
    """The block instance a Keras layer name puts the layer in, or None.

    >>> instance_of("conv2_block1_1_conv"), instance_of("block_3_pad"), instance_of("block4a_se_excite")
    ('conv2_block1', 'block_3', 'block4a')
    >>> instance_of("conv1_conv"), instance_of("block_3"), instance_of("mixed0")
    (None, None, None)
    """
    m = PREFIX.match(name)
    return m.group(1) if m else None


def mark_blocks(outputs) -> None:
    """Mark the layers behind ``outputs`` (IR tensors, before ``twinnet.Model``) with the blocks their names give."""
    nodes = ir.blocks.nodes_behind(outputs)
    names = {n.name for n in nodes}
    groups: dict[str, list] = {}
    for n in nodes:
        inst = None if n.is_input or n.block is not None else instance_of(n.name)
        if inst is not None:
            groups.setdefault(inst, []).append(n)
    for inst, members in groups.items():
        inside = {id(n) for n in members}
        entries = {(id(t.node), t.index) for n in members for t in n.inputs if id(t.node) not in inside}
        if len(members) >= 2 and inst not in names and len(entries) == 1:
            for n in members:
                n.block = ("Block", inst)
    ir.blocks.settle(outputs)
    seen: dict[str, list[str]] = {}  # kind -> its instances, in order
    for n in nodes:
        if n.block is not None and n.block[1] not in seen.setdefault(n.block[0], []):
            seen[n.block[0]].append(n.block[1])
    # a kind's layers, configs and wiring with channel counts left out: kinds alike but for those are emitted
    # as one class (backends/lowering/block_code.py), so a kind with one instance that is alike another one stays marked
    widths = {
        kind: _width_free([n for n in nodes if n.block is not None and n.block[1] == instances[0]])
        for kind, instances in seen.items()
    }
    kept = {
        kind for kind, instances in seen.items() if len(instances) > 1 or list(widths.values()).count(widths[kind]) > 1
    }
    for n in nodes:
        if n.block is not None:
            n.block = (_camel(seen[n.block[0]][0]), n.block[1]) if n.block[0] in kept else None


def _width_free(members: list) -> tuple:
    """The instance's layers, configs and wiring with the channel counts (``filters``, ``units``) left out."""
    inside = {id(n): i for i, n in enumerate(members)}
    rows = []
    for n in members:
        config = {k: v for k, v in n.layer.config().items() if k not in ("filters", "units")}
        refs = tuple(("layer", inside[id(t.node)], t.index) if id(t.node) in inside else ("input",) for t in n.inputs)
        rows.append((n.layer.kind, repr(sorted(config.items())), refs))
    return tuple(rows)


def _camel(instance: str) -> str:
    """``conv2_block1`` -> ``Conv2Block1``, ``block_3`` -> ``Block3``, ``block4a`` -> ``Block4a``."""
    return "".join(part[:1].upper() + part[1:] for part in instance.split("_"))
