"""backends/lowering/source_style.py: emitted source in the project's ruff style (double quotes, 120 columns)."""

import subprocess
import sys
from pathlib import Path

from twinnet.backends.lowering.source_style import double_quoted, tidy


def test_strings_take_double_quotes_unless_they_hold_one():
    assert double_quoted("f('a', 'it\\'s', 'say \"hi\"', b'x')") == 'f("a", \'it\\\'s\', \'say "hi"\', b"x")'


def test_a_long_call_is_split_one_argument_per_line_with_a_trailing_comma():
    line = "    v = layers.Conv2D(" + ", ".join(f"a{i}=[{i}, {i}]" for i in range(14)) + ")(x)"
    out = tidy(line).splitlines()
    assert out[0] == "    v = layers.Conv2D(" and out[-1] == "    )(x)"
    assert out[1:-1] == [f"        a{i}=[{i}, {i}]," for i in range(14)]
    compile(tidy("def f(x):\n" + line), "<tidy>", "exec")


def test_an_item_still_too_long_is_split_again():
    inner = "[" + ", ".join(f"value_{i:03d}" for i in range(12)) + "]"
    out = tidy(f"h = torch.cat({inner}, dim=1)").splitlines()
    assert out[:3] == ["h = torch.cat(", "    [", "        value_000,"] and out[-3:] == ["    ],", "    dim=1,", ")"]
    assert max(map(len, out)) <= 120


def test_docstrings_and_short_lines_are_kept():
    doc = '"""' + "word (x) " * 20 + '\n"""\n'
    assert tidy(doc) == doc
    assert tidy("x = 1") == "x = 1\n"


def test_long_comments_wrap():
    out = tidy("    # " + "why " * 40).splitlines()
    assert len(out) == 2 and all(line.startswith("    # ") and len(line) <= 120 for line in out)


def test_emitted_sources_pass_ruff(tmp_path):
    from twinnet import ir
    from twinnet.backends import emit
    from twinnet.ir import layers as L

    x = ir.Input((9, 10, 3), name="image")
    h = L.Conv2D(4, 3, padding="same", name="a_long_layer_name_for_a_convolution")(x)
    model = ir.Model(x, L.Dense(3)(L.Flatten()(h)), name="mobilenetv2_1_00_96").randomize(0)
    for fw in ("torch", "keras"):
        (tmp_path / f"{fw}.py").write_text(emit(model, fw))
    config = str(Path(__file__).resolve().parents[3] / "pyproject.toml")
    for args in (["check"], ["format", "--check"]):
        out = subprocess.run(
            [sys.executable, "-m", "ruff", *args, "--no-cache", "--config", config, str(tmp_path)],
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stdout + out.stderr


def test_inlined_torch_helpers_are_ruff_formatted(tmp_path):
    """Helper classes are copied into emitted files as they are written in backends/torch/helpers.py."""
    from twinnet.backends.torch import helpers

    for name in helpers.HELPERS:
        (tmp_path / f"{name}.py").write_text("import torch\nfrom torch import nn\n\n\n" + helpers.source(name) + "\n")
    config = str(Path(__file__).resolve().parents[3] / "pyproject.toml")
    out = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--no-cache", "--config", config, str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
