"""Exit code 5: every pair agrees but an output does not vary with the input; --randomize, --inputs.

The constant-output MobileNetV2 of issue 12: ``keras.applications.MobileNetV2(weights=None)`` gives
~0.001 for every class whatever the input (its signal dies on the way, features ~1e-11), so every
comparison passes at 0.00e+00 and proves nothing. ``convert`` flags it (exit 5) and, with
``--randomize``, passes on the copy with random biases and calibrated statistics. 32 px keeps it fast.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import json  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from twinnet import ir  # noqa: E402
from twinnet.exporters.cli import main  # noqa: E402
from twinnet.exporters.cli_options import BAD_INPUT, OK, UNINFORMATIVE  # noqa: E402
from twinnet.ir import layers as L  # noqa: E402


@pytest.fixture
def dominated(tmp_path):
    """A saved model whose output a bias of 1e4 dominates (it moves by ~1e-2 against a tolerance of ~1)."""
    x = ir.Input((6,), name="x")
    model = ir.Model(x, L.Dense(2, name="head")(x), name="dominated").randomize(0)
    model.weights["head/kernel"] = np.full((6, 2), 1e-3, np.float32)
    model.weights["head/bias"] = np.full((2,), 1e4, np.float32)
    return str(ir.save(model, tmp_path / "dominated.json"))


def test_verify_exit_codes(dominated, capsys):
    assert main(["verify", dominated, "--paths", "keras,torch"]) == UNINFORMATIVE
    out = capsys.readouterr().out
    assert "pass (uninformative)" in out and "UNINFORMATIVE" in out
    assert main(["verify", dominated, "--paths", "keras,torch", "--allow-uninformative"]) == OK
    capsys.readouterr()
    assert main(["verify", dominated, "--paths", "keras,torch", "--json"]) == UNINFORMATIVE
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and report["informative"] is False and report["uninformative"] == ["head"]
    assert main(["verify", dominated, "--paths", "keras,torch", "--randomize"]) == OK


def test_verify_inputs_npz(dominated, tmp_path, capsys):
    np.savez(tmp_path / "x.npz", x=np.linspace(-1e5, 1e5, 12, dtype=np.float32).reshape(2, 6))
    # inputs of 1e5 move the output by 1e2 * 6: now the comparison can see a difference
    assert main(["verify", dominated, "--paths", "keras,torch", "--inputs", str(tmp_path / "x.npz")]) == OK
    capsys.readouterr()
    np.savez(tmp_path / "bad.npz", y=np.zeros((2, 6), np.float32))
    assert main(["verify", dominated, "--inputs", str(tmp_path / "bad.npz")]) == BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith("twinnet: error: ") and "no array for input 'x'" in err and err.count("\n") == 1


def test_constant_mobilenet_v2_is_flagged_then_passes_with_randomize(tmp_path, capsys):
    import keras

    keras.utils.set_random_seed(0)
    path = tmp_path / "mnv2.keras"
    keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3)).save(path)
    args = ["convert", str(path), "--to", "torch", "--paths", "torch,onnx-ir"]
    assert main([*args, "-o", str(tmp_path / "plain")]) == UNINFORMATIVE
    out = capsys.readouterr().out
    assert "pass (uninformative)" in out and "FAIL" not in out
    assert main([*args, "-o", str(tmp_path / "sensitive"), "--randomize", "--json"]) == OK
    result = json.loads(capsys.readouterr().out)
    report = result["report"]
    assert result["ok"] and report["informative"], report
    random_rows = [r for r in report["rows"] if r["weights"] == "randomized"]
    # the randomized copy runs the emitted file (with the copy's weights) and the IR's paths, not the source
    assert {r["pair"] for r in random_rows} == {
        "emitted-torch vs torch",
        "emitted-torch vs onnx-ir",
        "torch vs onnx-ir",
    }
    assert all(r["ok"] and r["informative"] for r in random_rows)
    assert not any(r["informative"] for r in report["rows"] if r["weights"] == "real")
    # the copy's files were never published
    assert sorted(os.listdir(tmp_path / "sensitive")) == sorted(os.path.basename(f) for f in result["files"])
