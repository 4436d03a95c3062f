"""``twinnet convert`` and ``exporters.convert``: real Keras files in, standalone torch/Keras source out, verified."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import importlib.util  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import textwrap  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from convert_check import run_standalone  # noqa: E402

from twinnet import backends  # noqa: E402
from twinnet.exporters import convert  # noqa: E402
from twinnet.exporters.cli import main  # noqa: E402
from twinnet.exporters.progress import QUIET, BarProgress, for_terminal  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_keras_names():
    """Keras numbers auto-named layers per process ('add', 'add_1', ...); start the next test afresh,
    as some tests elsewhere name layers by Keras's defaults."""
    yield
    import keras

    keras.backend.clear_session()


def small_cnn():
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    x = keras.Input((9, 10, 3), name="image")
    h = layers.Conv2D(4, 3, strides=2, padding="same", activation="relu")(x)
    h = layers.BatchNormalization()(h)
    h = layers.MaxPooling2D()(h)
    h = layers.Flatten()(h)
    y = layers.Dense(5, activation="softmax", name="probs")(h)
    km = keras.Model(x, y, name="small_cnn")
    bn = km.layers[2]  # BN statistics away from 0/1, so a wrong epsilon or order shows
    rng = np.random.default_rng(1)
    bn.set_weights(
        [
            rng.uniform(0.5, 1.5, 4).astype("float32"),
            rng.normal(0, 0.3, 4).astype("float32"),
            rng.normal(0, 0.3, 4).astype("float32"),
            rng.uniform(0.5, 1.5, 4).astype("float32"),
        ]
    )
    return km


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("src") / "small.keras"
    small_cnn().save(path)
    return path


def test_keras_file_to_torch_runs_standalone(keras_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["convert", str(keras_file), "--to", "torch", "-o", str(out)]) == 0
    printed = capsys.readouterr()
    # the default paths: the source, the emitted file and the ONNX file written from the IR, nothing else
    pairs = ("source-keras vs emitted-torch", "source-keras vs onnx-ir", "emitted-torch vs onnx-ir")
    assert all(pair in printed.out for pair in pairs), printed.out
    assert "onnx-keras" not in printed.out and "onnx-torch" not in printed.out
    assert printed.err == ""  # not a terminal: no progress bars
    assert sorted(p.name for p in out.iterdir()) == [
        "small_cnn.py",
        "small_cnn.safetensors",
        "small_cnn.twinnet.safetensors",
    ]
    x = np.random.default_rng(2).standard_normal((3, 9, 10, 3)).astype(np.float32)
    np.save(out / "x.npy", x)
    got = run_standalone(
        out,
        (
            "import runpy, numpy as np, torch, small_cnn as m\n"
            "runpy.run_path('small_cnn.py', run_name='__main__')\n"  # `python small_cnn.py` works
            "net = m.load_weights(m.SmallCnn(), 'small_cnn.safetensors').eval()\n"
            "np.save('out.npy', net(torch.from_numpy(np.load('x.npy'))).detach().numpy())\n"
        ),
        only="torch",
    )
    import keras

    want = np.asarray(keras.saving.load_model(keras_file, safe_mode=True, compile=False)(x))
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-4)


def test_keras_file_to_keras_runs_standalone(keras_file, tmp_path):
    result = convert(str(keras_file), "keras", tmp_path / "k", batch_sizes=(2,))
    assert result.ok, result.report.table()
    out = tmp_path / "k"
    assert {Path(f).name for f in result.files} == {
        "small_cnn.py",
        "small_cnn.weights.h5",
        "small_cnn.twinnet.safetensors",
    }
    x = np.random.default_rng(3).standard_normal((2, 9, 10, 3)).astype(np.float32)
    np.save(out / "x.npy", x)
    got = run_standalone(
        out,
        (
            "import numpy as np, small_cnn as m\n"
            "net = m.build_small_cnn()\nnet.load_weights('small_cnn.weights.h5')\n"
            "np.save('out.npy', np.asarray(net(np.load('x.npy'))))\n"
        ),
        only="keras",
    )
    import keras

    want = np.asarray(keras.saving.load_model(keras_file, safe_mode=True, compile=False)(x))
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-4)


@pytest.fixture
def model_py(tmp_path) -> Path:
    path = tmp_path / "models.py"
    path.write_text(
        textwrap.dedent("""
        from twinnet import ir
        from twinnet.ir import layers as L

        def ir_model():
            x = ir.Input((6, 4), name="seq")
            return ir.Model(x, L.Dense(3)(L.GlobalAvgPool1D()(L.Conv1D(5, 3, padding="causal")(x))), name="from_ir")

        def keras_model():
            import keras
            x = keras.Input((6, 4))
            y = keras.layers.Dense(2)(keras.layers.LSTM(3)(x))
            return keras.Model(x, y, name="from_keras")

        def refused():
            import keras
            x = keras.Input((6, 4), name="tokens")
            h = keras.layers.Masking(name="masking")(x)
            h = keras.layers.AdditiveAttention(name="self_attention")([h, h])
            h = keras.layers.Conv1D(4, 3, data_format="channels_first", name="conv_cf")(h)
            h = keras.layers.Dense(2, name="fine")(h)
            return keras.Model(x, h, name="refused")

        def torch_bare():
            import torch
            return torch.nn.Linear(3, 2)
    """)
    )
    return path


def test_python_function_to_keras_json(model_py, tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        main(
            [
                "convert",
                f"{model_py}:ir_model",
                "--to",
                "keras",
                "-o",
                str(out),
                "--json",
                "--batch-sizes",
                "1,2",
                "--seq-lens",
                "6",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)  # --json prints the JSON only
    assert result["ok"] is True and result["source"] == "ir" and result["target"] == "keras"
    assert {Path(f).name for f in result["files"]} == {
        "from_ir.py",
        "from_ir.weights.h5",
        "from_ir.twinnet.safetensors",
    }
    assert "emitted-keras" in result["report"]["paths"]
    assert {r["batch"] for r in result["report"]["rows"]} == {1, 2}


def test_python_function_returning_keras_model_to_torch(model_py, tmp_path):
    result = convert(f"{model_py}:keras_model", "torch", tmp_path / "out", native_io=True, paths=("keras", "torch"))
    assert result.ok, result.report.table()
    assert result.source == "keras"
    assert "source-keras vs emitted-torch" in {r.pair for r in result.report.rows}
    assert (tmp_path / "out" / "from_keras.py").is_file()


def test_refusal_lists_every_unsupported_layer_and_writes_nothing(model_py, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["convert", f"{model_py}:refused", "--to", "torch", "-o", str(out)]) == 4
    err = capsys.readouterr().err
    assert err.startswith("twinnet: error: cannot import Keras model 'refused': 3 problem(s)")
    listed = err.strip().splitlines()[1:]
    assert len(listed) == 3 and all(line.startswith("  - ") for line in listed)
    for name, kind in [("masking", "Masking"), ("self_attention", "AdditiveAttention"), ("conv_cf", "Conv1D")]:
        assert any(name in line and kind in line for line in listed), err
    assert "channels_first" in err and "fine" not in err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["models.py"]  # no staging folder left behind
    assert main(["convert", f"{model_py}:refused", "--to", "torch", "-o", str(out), "--json"]) == 4
    problems = json.loads(capsys.readouterr().out)["problems"]
    assert {p["where"] for p in problems} == {"masking", "self_attention", "conv_cf"}


def test_failed_verification_exits_1_and_writes_nothing_unless_kept(keras_file, tmp_path, capsys):
    # Zero tolerance: Keras and torch sum a convolution in different orders, so float32 rounding differs.
    out = tmp_path / "out"
    argv = ["convert", str(keras_file), "--to", "torch", "-o", str(out), "--atol", "0", "--rtol", "0"]
    assert main(argv) == 1
    assert "FAIL" in capsys.readouterr().out
    assert not out.exists()
    assert main(argv + ["--keep-failed"]) == 1
    assert (out / "small_cnn.py").is_file()


def test_existing_output_folder_keeps_other_files(keras_file, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = convert(str(keras_file), "torch", out, paths=("torch",), batch_sizes=(2,))
    assert result.ok, result.report.table()
    assert (out / "notes.txt").read_text() == "mine" and (out / "small_cnn.py").is_file()


@pytest.mark.parametrize(
    "argv_tail,code,needle",
    [
        (["{tmp}/missing.keras", "--to", "torch"], 2, "no such file"),
        (["{tmp}/bad.keras", "--to", "torch"], 2, "bad.keras': not a valid .keras archive"),
        (["{tmp}/model.txt", "--to", "torch"], 2, "expected FILE.keras"),
        (["{py}:torch_bare", "--to", "keras"], 2, "(module, example_inputs)"),
        (["{py}:ir_model", "--to", "tensorflow"], 2, "invalid choice"),
        (["{py}:ir_model", "--to", "keras", "--paths", "onnx"], 2, "argument --paths: expected all, or one or more"),
    ],
)
def test_bad_sources_exit_2_with_one_line(argv_tail, code, needle, tmp_path, model_py, capsys):
    (tmp_path / "bad.keras").write_bytes(b"not a zip")
    (tmp_path / "model.txt").write_text("hello")
    argv = ["convert", *[a.format(tmp=tmp_path, py=model_py) for a in argv_tail], "-o", str(tmp_path / "out")]
    assert main(argv) == code
    err = capsys.readouterr().err
    assert err.startswith("twinnet: error: ") and err.strip().count("\n") == 0 and needle in err, err
    assert "File not found" not in err  # Keras's word for any file that is not a zip archive
    assert not (tmp_path / "out").exists()


def test_corrupt_keras_archive_is_named_with_the_reason(tmp_path, capsys):
    """A zip that is not a Keras model: 'Keras could not load it', with Keras's reason, and the path."""
    import zipfile

    with zipfile.ZipFile(tmp_path / "broken.keras", "w") as z:
        z.writestr("config.json", "{ not json")
    argv = ["convert", str(tmp_path / "broken.keras"), "--to", "torch", "-o", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "broken.keras" in err and "could not load it safely" in err and "File not found" not in err, err


def test_lambda_layer_is_refused_at_load(tmp_path, capsys):
    import keras

    x = keras.Input((3,))
    keras.Model(x, keras.layers.Lambda(lambda t: t * 2)(x)).save(tmp_path / "lam.keras")
    assert main(["convert", str(tmp_path / "lam.keras"), "--to", "torch", "-o", str(tmp_path / "out")]) == 2
    assert "safe_mode" in capsys.readouterr().err


def test_onnx_source(tmp_path, capsys):
    """ONNX goes through backends.from_onnx: verified when this build has it, a clear refusal when not."""
    from twinnet import ir
    from twinnet.exporters import export_onnx
    from twinnet.ir import layers as L

    x = ir.Input((2, 5, 6), layout="NCHW", name="image")
    model = ir.Model(x, L.Dense(3)(L.Flatten()(L.Conv2D(4, 3)(x))), name="onnx_src").randomize(0)
    src = export_onnx(model, tmp_path / "m.onnx", via="torch")
    code = main(["convert", str(src), "--to", "keras", "-o", str(tmp_path / "out"), "--batch-sizes", "2"])
    captured = capsys.readouterr()
    if hasattr(backends, "from_onnx"):
        assert code == 0, captured.out + captured.err
        assert "source-onnx vs emitted-keras" in captured.out
    else:
        assert code == 4 and "backends.from_onnx, which is not available" in captured.err


def test_progress_only_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert for_terminal(stream=io.StringIO()) is QUIET
    assert for_terminal(quiet=True, stream=Terminal()) is QUIET
    assert isinstance(for_terminal(stream=Terminal()), BarProgress)


def test_progress_bars_name_each_stage(keras_file, tmp_path):
    from rich.console import Console

    screen = io.StringIO()
    bars = BarProgress("convert", console=Console(file=screen, force_terminal=True, width=100))
    assert convert(str(keras_file), "torch", tmp_path / "out", batch_sizes=(2,), progress=bars, paths="all").ok
    text = screen.getvalue()
    for stage in ("convert import", "convert emit", "convert compile", "convert export", "convert compare"):
        assert stage in text, text


def test_benchmark_script_runs(capsys):
    """benchmarks/convert.py is not a test, but it must keep running (examples only here: the apps are slow)."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "convert.py"
    spec = importlib.util.spec_from_file_location("bench_convert", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--no-apps", "--archs", "resnet,gru", "--json"]) == 0
    rows = {r["model"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) >= {"mnist_convnet:build", "lstm_sentiment:build", "resnet", "gru"}
    assert all(r["torch_diff"][0] < 1e-5 for r in rows.values())
    assert all(r["keras_transposes"] == 0 for r in rows.values() if r["source"] == "ir")
    assert rows["mnist_convnet:build"]["torch_transposes"] == 1  # NHWC input
    # torch sources: none in torch; in Keras only the NCHW input's (the pooled 1x1 map is reshaped, not permuted)
    assert (rows["resnet"]["torch_transposes"], rows["resnet"]["keras_transposes"]) == (0, 1)
    assert (rows["gru"]["torch_transposes"], rows["gru"]["keras_transposes"]) == (0, 0)


def test_verify_accepts_quiet(tmp_path, capsys):
    from twinnet import ir
    from twinnet.ir import layers as L

    model = ir.Sequential([L.Dense(2)], input=ir.Input((3,)), name="q").initialize(0)
    path = ir.save(model, tmp_path / "q.safetensors")
    assert main(["verify", str(path), "--quiet", "--batch-sizes", "2"]) == 0
    assert capsys.readouterr().err == ""


def test_paths_picks_the_ir_paths(tmp_path, capsys):
    """--paths, for verify and convert: only the paths named run (the source and the emitted file always do)."""
    from twinnet import ir
    from twinnet.ir import layers as L

    model = ir.Sequential([L.Dense(2)], input=ir.Input((3,)), name="q").initialize(0)
    path = ir.save(model, tmp_path / "q.safetensors")
    assert main(["verify", str(path), "--paths", "torch,onnx-torch", "--batch-sizes", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["paths"] == ["torch", "onnx-torch"]
    assert (
        main(
            [
                "convert",
                str(path),
                "--to",
                "keras",
                "-o",
                str(tmp_path / "out"),
                "--paths",
                "torch",
                "--batch-sizes",
                "2",
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["report"]["paths"] == ["emitted-keras", "torch"]


def test_default_paths_all_and_profile(tmp_path, capsys):
    """Without --paths, verify runs keras, torch and onnx-ir and convert only onnx-ir besides the source and the
    emitted file; --paths all runs every path; --profile prints wall, CPU and peak RSS per stage."""
    from twinnet import ir
    from twinnet.exporters.verify import ALL_PATHS
    from twinnet.ir import layers as L

    model = ir.Sequential([L.Dense(2)], input=ir.Input((3,)), name="q").initialize(0)
    path = ir.save(model, tmp_path / "q.safetensors")
    assert main(["verify", str(path), "--batch-sizes", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["paths"] == ["keras", "torch", "onnx-ir"]
    assert main(["verify", str(path), "--paths", "all", "--batch-sizes", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["paths"] == list(ALL_PATHS)
    assert main(["convert", str(path), "--to", "torch", "-o", str(tmp_path / "out"), "--profile"]) == 0
    printed = capsys.readouterr().out
    assert "emitted-torch vs onnx-ir" in printed and "torch vs" not in printed.replace("emitted-torch vs", "")
    for stage in ("import", "emit", "verify"):
        assert re.search(rf"profile {stage}: [\d.]+s wall, [\d.]+s CPU, peak RSS [\d,]+ MiB so far", printed), printed
