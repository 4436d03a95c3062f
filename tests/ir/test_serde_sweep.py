"""The loader, field by field: every leaf of each fuzzed model's architecture set to each bad value below
loads as a valid model or raises an ``ir.IRError`` subclass (test_serde_fuzz.py's property, swept
systematically instead of drawn at random), and the unmutated files load.
"""

import json

import pytest
from siblings import sibling

from twinnet import ir

fuzz = sibling("ir/test_serde_fuzz.py")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("sweep")


_SWEEP = [
    None,
    True,
    [],
    {},
    [1],
    [[1, 1]],
    {"kind": "LSTM", "config": {"units": 1}},
    0,
    -1,
    2**31 + 1,
    10**12,
    10**400,
    10**4000,
    -(10**400),
    1e308,
    float("nan"),
    float("inf"),
    0.5,
    "",
    "NaN",
    "C",
    "NTC",
    "x" * 300,
    "a" * 300 + ".safetensors",
]


def test_every_field_with_every_bad_value():
    """Systematic type swaps: each leaf of each architecture, set to each value above, through from_dict
    (no files: fast enough to cover every combination on every run)."""
    loaded = 0
    for text in (files["m.json"] for form, files in fuzz.bases() if form == "json"):
        for path in list(fuzz._paths(json.loads(text)))[1:]:
            for value in _SWEEP:
                tree = json.loads(text)
                fuzz._parent(tree, path)[path[-1]] = value
                try:
                    loaded += bool(fuzz._valid(ir.from_dict(tree)))
                except ir.IRError:
                    pass
    assert loaded  # some swaps are harmless (another valid size, say): those must load cleanly


def test_unmutated_bases_load(workdir):
    for _, files in fuzz.bases():
        assert fuzz.check_load(workdir, files) is not None
