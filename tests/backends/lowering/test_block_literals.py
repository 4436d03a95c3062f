"""backends/lowering/block_literals.py: which literals a block's code may take as parameters, and how they are named."""

import pytest

from twinnet.backends.lowering.block_code import _stem
from twinnet.backends.lowering.block_literals import describe, literals, parametrise, skeleton

TABLE = {"nn.Conv2d": ("in_channels", "out_channels", "kernel_size")}


@pytest.mark.parametrize(
    "text,found",
    [
        ("a = nn.Conv2d(256, 64, kernel_size=(1, 1))", ["256", "64", "(1, 1)"]),
        ("a = nn.BatchNorm2d(64, eps=1.001e-05, momentum=0.01)", ["64"]),  # floats are no literals, whole
        ('a = layers.Conv2D(4, (3, 3), name=f"{name}_2_conv")(x)', ["4", "(3, 3)"]),  # nor digits in strings
        ("conv_1 = self.conv_1(x1)", []),  # nor digits in names
        ("a = x.permute(0, 2, 3, 1)", ["0", "2", "3", "1"]),  # call arguments, one by one
        ("a = x[:, -64:]", ["64"]),
        ("a = F.pad(x, (0, 1, 0, 1))", ["(0, 1, 0, 1)"]),
    ],
)
def test_literals_are_integers_and_integer_tuples_outside_strings(text, found):
    assert [text[a:b] for a, b in literals(text)] == found


def test_skeleton_masks_only_literals():
    assert (
        skeleton("a = nn.Conv2d(256, 64, kernel_size=(1, 1), eps=1e-05)")
        == "a = nn.Conv2d(#, #, kernel_size=#, eps=1e-05)"
    )


@pytest.mark.parametrize(
    "text,which,name",
    [
        ("a = nn.Conv2d(256, 64, kernel_size=(1, 1), stride=(2, 2))", "(2, 2)", "stride"),
        ("a = nn.Conv2d(256, 64, kernel_size=(1, 1))", "64", "out_channels"),  # from the backend's table
        ("a = x.reshape(x.shape[0], 90, 4)", "4", "arg2"),  # not in the table
        ("a = x[:, 3:7]", "7", "index"),
        ("BUFFER int64 (64,)", "(64,)", "value"),
        ("a = torch.cat([x, y], dim=1)", "1", "dim"),
        ("a = f(g(1, 2), 3)", "2", "arg1"),  # the innermost call
    ],
)
def test_a_literal_is_described_by_the_argument_it_fills(text, which, name):
    start = text.rindex(which)
    assert describe(text, start, TABLE) == name


def test_differing_literals_become_shared_parameters_and_equal_ones_stay():
    first = ["nn.Conv2d(256, 64, kernel_size=(1, 1))", "nn.BatchNorm2d(64)", "y = x.reshape(-1, 64)"]
    second = ["nn.Conv2d(512, 128, kernel_size=(1, 1))", "nn.BatchNorm2d(128)", "y = x.reshape(-1, 128)"]
    p = parametrise(
        [first, second],
        ["conv", "bn", "y"],
        {"conv_in_channels"},
        {**TABLE, "nn.BatchNorm2d": ("num_features",)},
        refs=[str, str, lambda name: f"self.{name}"],
    )
    assert p.params == ["conv_in_channels_1", "conv_out_channels"]  # a taken name gets a suffix
    assert p.texts == [
        "nn.Conv2d(conv_in_channels_1, conv_out_channels, kernel_size=(1, 1))",
        "nn.BatchNorm2d(conv_out_channels)",
        "y = x.reshape(-1, self.conv_out_channels)",
    ]
    assert p.values == [["256", "64"], ["512", "128"]]
    assert p.in_texts == [{"conv_in_channels_1", "conv_out_channels"}, {"conv_out_channels"}, {"conv_out_channels"}]


def test_identical_instances_take_no_parameters():
    p = parametrise([["a = f(3)"], ["a = f(3)"]], ["a"], set(), {})
    assert (p.texts, p.params, p.values) == (["a = f(3)"], [], [[], []])


@pytest.mark.parametrize(
    "kind,stem",
    [
        ("Conv2Block2", "ConvBlock"),
        ("BasicBlock3", "BasicBlock"),
        ("Block14", "Block"),
        ("Block4a", "Block4a"),
        ("Conv3x3", "Conv3x3"),
        ("MLP2D", "MLP2D"),
        ("Res", "Res"),
    ],
)
def test_a_class_is_named_after_its_kind_without_the_numbers_that_end_a_word(kind, stem):
    assert _stem(kind) == stem
