"""The CLI's error contract, beyond test_cli.py: the IRError message itself on one line (exit 2),
the traceback only with --debug (before or after the command), and the remaining bad-input paths."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from twinnet import ir  # noqa: E402
from twinnet.exporters.cli import main  # noqa: E402
from twinnet.exporters.cli_options import BAD_INPUT, FAILED, INTERNAL, OK  # noqa: E402
from twinnet.ir import layers as L  # noqa: E402


@pytest.fixture
def saved(tmp_path) -> Path:
    x = ir.Input((4,), name="x")
    return ir.save(ir.Model(x, L.Dense(3, name="d")(x), name="tiny").initialize(0), tmp_path / "tiny.json")


@pytest.fixture
def bad_layer(saved) -> Path:
    """A model file whose layer config is invalid: the loader raises ConfigError naming the layer."""
    data = json.loads(saved.read_text())
    data["layers"][0]["config"]["units"] = 0
    saved.write_text(json.dumps(data))
    return saved


def one_line(err: str) -> str:
    assert err.startswith("twinnet: error: ") and err.endswith("\n") and err.count("\n") == 1, err
    return err[len("twinnet: error: ") : -1]


def test_exit_codes_are_distinct():
    assert len({OK, FAILED, BAD_INPUT, INTERNAL}) == 4 and (OK, FAILED, BAD_INPUT, INTERNAL) == (0, 1, 2, 3)


def test_an_ir_error_is_printed_as_its_message(bad_layer, capsys):
    assert main(["summary", str(bad_layer)]) == BAD_INPUT
    captured = capsys.readouterr()
    assert one_line(captured.err) == f"{bad_layer}: Dense 'd': units must be >= 1, got 0"
    assert captured.out == ""


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback_of_bad_input_too(bad_layer, capsys, where):
    argv = ["summary", str(bad_layer)]
    argv = ["--debug", *argv] if where == "before" else [*argv, "--debug"]
    assert main(argv) == BAD_INPUT
    err = capsys.readouterr().err
    assert "Traceback" in err and f"ir.errors.ConfigError: {bad_layer}: Dense 'd': units must be >= 1, got 0" in err
    assert err.rstrip().splitlines()[-1] == f"twinnet: error: {bad_layer}: Dense 'd': units must be >= 1, got 0"


@pytest.mark.parametrize(
    "argv_tail,message",
    [
        (
            ["export", "{saved}", "-o", "{tmp}/no/such/dir/m.onnx"],
            "'{tmp}/no/such/dir': no such folder for the ONNX file",
        ),
        (["export", "{saved}", "-o", "{tmp}/m.txt"], "the ONNX file name must end in .onnx, got 'm.txt'"),
        (
            ["verify", "{saved}", "--atol", "-1"],
            "argument --atol: expected a non-negative number, got '-1' (see 'twinnet verify --help')",
        ),
        (
            ["verify", "{saved}", "--rtol", "nan"],
            "argument --rtol: expected a non-negative number, got 'nan' (see 'twinnet verify --help')",
        ),
        (
            ["verify", "{saved}", "--paths", "keras,tf"],
            "argument --paths: expected all, or one or more of keras,torch,onnx-keras,onnx-torch,onnx-ir "
            "separated by commas "
            "(unknown 'tf'), got 'keras,tf' (see 'twinnet verify --help')",
        ),
        (
            ["verify", "{saved}", "--paths", "torch,torch"],
            "argument --paths: expected all, or one or more of keras,torch,onnx-keras,onnx-torch,onnx-ir "
            "separated by commas "
            "(each at most once), got 'torch,torch'",
        ),
        (["emit", "{saved}", "--framework", "jax"], "argument --framework: invalid choice: 'jax' (choose from "),
        (["summary", "{tmp}/m.py:1x"], "'1x' is not a function name (expected FILE.py:FUNCTION)"),
    ],
    ids=["export-folder", "export-suffix", "atol", "rtol", "paths", "paths-twice", "framework", "function-name"],
)
def test_bad_input_paths(argv_tail, message, saved, tmp_path, capsys):
    argv = [a.format(saved=saved, tmp=tmp_path) for a in argv_tail]
    assert main(argv) == BAD_INPUT
    assert one_line(capsys.readouterr().err).startswith(message.format(tmp=tmp_path))


def test_an_os_error_is_bad_input(saved, tmp_path, capsys):
    """-o naming a file where a folder should be: the OSError is the user's path, reported in one line."""
    (tmp_path / "taken").write_text("")
    assert main(["emit", str(saved), "--framework", "torch", "-o", str(tmp_path / "taken")]) == BAD_INPUT
    assert "File exists" in one_line(capsys.readouterr().err)


@pytest.fixture
def model_py(tmp_path) -> Path:
    path = tmp_path / "build.py"
    path.write_text("def not_a_model():\n    return 42\n\n\ndef broken():\n    raise RuntimeError('boom')\n")
    return path


@pytest.mark.parametrize(
    "argv,message",
    [
        ("summary {tmp}/missing.json", "'{tmp}/missing.json': no such file"),
        ("summary {tmp}/missing.py:build", "'{tmp}/missing.py': no such file"),
        (
            "summary {tmp}/model.txt",
            "'{tmp}/model.txt': MODEL must be a .json or .safetensors file, or FILE.py:FUNCTION",
        ),
        ("summary {py}", "'{py}': name the function too, as FILE.py:FUNCTION"),
        ("summary {py}:nofunc", "'{py}' has no function 'nofunc'"),
        ("summary {py}:not_a_model", "build.py:not_a_model() returned int, not an ir.Model"),
        ("summary {py}:broken", "running build.py:broken failed: RuntimeError: boom"),
        ("summary {tmp}/bad.json", "{tmp}/bad.json: not valid JSON (Expecting property name enclosed in double quotes"),
        (
            "frobnicate x.json",
            "argument COMMAND: invalid choice: 'frobnicate' (choose from 'summary', 'emit', 'export', "
            "'verify', 'convert') (see 'twinnet --help')",
        ),
        ("", "the following arguments are required: COMMAND (see 'twinnet --help')"),
        ("emit {tmp}/m.json", "the following arguments are required: --framework (see 'twinnet emit --help')"),
        (
            "verify {tmp}/m.json --batch-sizes 0,x",
            "argument --batch-sizes: expected positive integers separated by commas, got '0,x' "
            "(see 'twinnet verify --help')",
        ),
    ],
    ids=[
        "missing-file",
        "missing-py",
        "suffix",
        "py-without-function",
        "no-function",
        "not-a-model",
        "user-code-fails",
        "bad-json",
        "unknown-command",
        "no-command",
        "missing-option",
        "bad-sizes",
    ],
)
def test_bad_input_messages(argv, message, tmp_path, model_py, capsys):
    """What test_cli.py's exit-2 cases print, word for word."""
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "model.txt").write_text("hello")
    args = [a.format(tmp=tmp_path, py=model_py) for a in argv.split()]
    assert main(args) == BAD_INPUT
    assert one_line(capsys.readouterr().err).startswith(message.format(tmp=tmp_path, py=model_py))
