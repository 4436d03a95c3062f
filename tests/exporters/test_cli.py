"""The ``twinnet`` command line, run in-process through ``exporters.cli.main``."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from twinnet import (
    exporters,  # noqa: E402
    ir,  # noqa: E402
)
from twinnet.exporters.cli import main  # noqa: E402
from twinnet.ir import layers as L  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def tiny_model() -> ir.Model:
    x = ir.Input((4,), name="x")
    return ir.Model(x, L.Dense(3, activation="relu")(x), name="tiny").initialize(0)


@pytest.fixture
def saved(tmp_path) -> Path:
    return ir.save(tiny_model(), tmp_path / "tiny.json")


@pytest.fixture
def model_py(tmp_path) -> Path:
    path = tmp_path / "build_tiny.py"
    path.write_text(
        textwrap.dedent("""
        from twinnet import ir
        from twinnet.ir import layers as L

        def build():  # no weights: the CLI initialises them
            x = ir.Input((4,), name="x")
            return ir.Model(x, L.Dense(3)(x), name="from_py")

        def not_a_model():
            return 42

        def broken():
            raise RuntimeError("boom")
    """)
    )
    return path


def assert_one_line_error(err: str) -> None:
    assert err.startswith("twinnet: error: "), err
    assert err.strip().count("\n") == 0, err
    assert "Traceback" not in err


def test_summary_of_saved_model(saved, capsys):
    assert main(["summary", str(saved)]) == 0
    out = capsys.readouterr().out
    assert "tiny" in out and "Dense" in out and "15" in out  # 4*3 + 3 params


def test_summary_of_python_function_initialises_it(model_py, capsys):
    assert main(["summary", f"{model_py}:build"]) == 0
    assert "from_py" in capsys.readouterr().out


def test_emit_torch_to_dir(saved, tmp_path, capsys):
    out_dir = tmp_path / "out"
    assert main(["emit", str(saved), "--framework", "torch", "-o", str(out_dir)]) == 0
    assert (out_dir / "tiny.py").is_file()
    assert "tiny.py" in capsys.readouterr().out


def test_emit_torch_prints_source(saved, capsys):
    assert main(["emit", str(saved), "--framework", "torch"]) == 0
    source = capsys.readouterr().out
    compile(source, "tiny.py", "exec")  # valid Python


def test_verify_example_json(capsys):
    code = main(["verify", f"{ROOT / 'examples' / 'mnist_convnet.py'}:build", "--json", "--batch-sizes", "1,2"])
    out = capsys.readouterr().out
    report = json.loads(out)  # --json prints the JSON only
    assert code == 0, report
    assert report["ok"] is True
    assert {r["batch"] for r in report["rows"]} == {1, 2}


def FakeReport():
    """A real Report of a failed verification: a NaN row, a path that failed to run, a diverging layer."""
    from twinnet.exporters.verify import Comparison, Report

    nan = float("nan")
    return Report(
        "tiny",
        1e-5,
        1e-4,
        ["keras", "torch"],
        [Comparison("dense", "keras vs torch", 1, None, nan, nan, False, "NaN/Inf in the keras path")],
        errors={"onnx-keras": "boom"},
        divergence="conv2d: max abs diff 1",
    )


def test_verify_failure_exits_1(saved, monkeypatch, capsys):
    monkeypatch.setattr(exporters, "verify", lambda model, **kw: FakeReport())
    assert main(["verify", str(saved)]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "conv2d" in out
    assert main(["verify", str(saved), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["rows"][0]["max_abs"] == "nan"  # strict JSON


def test_internal_error_exits_3(saved, monkeypatch, capsys):
    def crash(model, **kw):
        raise RuntimeError("kaput\nsecond line")

    monkeypatch.setattr(exporters, "verify", crash)
    assert main(["verify", str(saved)]) == 3
    err = capsys.readouterr().err
    assert_one_line_error(err)
    assert "internal error" in err and "kaput second line" in err
    assert main(["--debug", "verify", str(saved)]) == 3
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv_tail",
    [
        ["summary", "{tmp}/missing.json"],
        ["summary", "{tmp}/bad.json"],
        ["summary", "{tmp}/model.txt"],
        ["summary", "{py}:nofunc"],
        ["summary", "{py}:not_a_model"],
        ["summary", "{py}:broken"],
        ["summary", "{tmp}/missing.py:build"],
        ["summary", "{py}"],
        ["frobnicate", "x.json"],
        ["verify", "{tmp}/tiny.json", "--batch-sizes", "0,x"],
        ["emit", "{tmp}/tiny.json"],
        [],
    ],
)
def test_bad_input_exits_2_with_one_line(argv_tail, tmp_path, saved, model_py, capsys):
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "model.txt").write_text("hello")
    argv = [a.format(tmp=tmp_path, py=model_py) for a in argv_tail]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert_one_line_error(captured.err)
    assert captured.out == ""


def test_data_file_is_never_executed(tmp_path, capsys):
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.json"
    evil.write_text(f"open({str(marker)!r}, 'w').close()\n")
    assert main(["summary", str(evil)]) == 2
    assert main(["summary", str(tmp_path / "evil.py")]) == 2  # a .py without :FUNCTION is refused
    assert not marker.exists()
    for line in capsys.readouterr().err.splitlines():  # one error line per call
        assert_one_line_error(line)


def test_help_mentions_that_python_files_run(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "RUNS" in out and "never executed" in out


def test_python_m_exporters_help_is_light():
    # --help must not import a framework: that is what keeps it fast.
    code = (
        "import sys; from twinnet.exporters.cli import main; rc = main(['--help']); "
        "heavy = [m for m in ('torch', 'tensorflow', 'keras', 'onnxruntime') if m in sys.modules]; "
        "print('HEAVY', heavy); sys.exit(rc)"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    light = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert light.returncode == 0, light.stderr
    assert "HEAVY []" in light.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "twinnet.exporters", "--help"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "usage: twinnet" in proc.stdout and "FILE.py:FUNCTION" in proc.stdout


def test_stderr_stays_clean_when_tensorflow_loads(saved, tmp_path):
    # TensorFlow writes absl/oneDNN start-up lines to descriptor 2 on import, whatever TF_CPP_MIN_LOG_LEVEL says;
    # the CLI loads it with that descriptor held aside (exporters/quiet.py).
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "twinnet.exporters",
            "emit",
            str(saved),
            "--framework",
            "keras",
            "-o",
            str(tmp_path / "k"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert (tmp_path / "k" / "tiny.py").exists()


def test_a_probe_for_tensorflow_does_not_use_up_the_quiet_import():
    """torch's ONNX exporter asks ``importlib.util.find_spec("tensorflow")`` without importing it; the import that
    follows must still be the quiet one."""
    script = (
        "from twinnet.exporters.quiet import quiet_tensorflow_import\n"
        "quiet_tensorflow_import()\n"
        "import importlib.util\n"
        "assert importlib.util.find_spec('tensorflow') is not None\n"
        "import keras\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
