"""benchmarks/gpu_check.py runs where Keras cannot be imported (as on the GPU machine), here on the CPU."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"

#: keras, TensorFlow and timm made unimportable as if not installed (``import`` raises ImportError,
#: ``importlib.util.find_spec`` returns None, which torch._dynamo probes), then the script run as __main__
BLOCKED = """
import runpy, sys
for name in ("keras", "tensorflow", "timm", "tf2onnx", "tf_keras"):
    sys.modules[name] = None
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def run(*args, timeout=900):
    return subprocess.run(
        [sys.executable, "-c", BLOCKED, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout
    )


def test_the_gpu_check_runs_without_keras_on_the_cpu(tmp_path):
    done = run("--device", "cpu", "--models", "convnet_bn", "--repeats", "1", "--out", str(tmp_path))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Keras paths skipped: Keras cannot be imported" in done.stdout
    result = json.loads((tmp_path / "gpu_check.json").read_text())
    assert result["ok"] and result["keras"] is False and result["fit"]["ok"]
    assert [r["dtype"] for r in result["rows"]] == ["float32", "float16", "bfloat16"]
    assert all(r["verify_ok"] and r["vs_onnx_ir_f32"]["ok"] for r in result["rows"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
def test_without_a_gpu_it_says_so_and_exits_2(tmp_path):
    done = run("--out", str(tmp_path), timeout=300)
    assert done.returncode == 2 and "no CUDA device" in done.stdout
