"""The ``twinnet`` command's own process: its environment defaults, and a ``.keras`` file converted to torch
under Keras's torch backend without TensorFlow loaded."""

import argparse
import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402
from siblings import sibling  # noqa: E402

from twinnet.exporters.process import process_defaults  # noqa: E402


def args(src="m.keras", to="torch", paths=None):
    return argparse.Namespace(src=src, to=to, paths=paths)


def test_a_keras_file_to_torch_runs_under_the_torch_backend_and_threads_wait_passively():
    env = {}
    process_defaults(args(), env, modules={})
    assert env == {"OMP_WAIT_POLICY": "PASSIVE", "KERAS_BACKEND": "torch"}


@pytest.mark.parametrize(
    "case",
    [
        args(to="keras"),
        args(src="m.onnx"),
        args(paths=("onnx-ir", "onnx-keras")),  # tf2onnx needs TensorFlow
        args(paths=("keras",)),
    ],
    ids=["to-keras", "onnx-source", "onnx-keras-path", "keras-path"],
)
def test_the_keras_backend_is_left_alone_where_a_path_or_target_needs_it(case):
    env = {}
    process_defaults(case, env, modules={})
    assert env == {"OMP_WAIT_POLICY": "PASSIVE"}


def test_what_the_user_set_or_what_is_loaded_already_wins():
    env = {"KERAS_BACKEND": "jax", "OMP_WAIT_POLICY": "ACTIVE"}
    process_defaults(args(), env, modules={})
    assert env == {"KERAS_BACKEND": "jax", "OMP_WAIT_POLICY": "ACTIVE"}
    env = {}
    process_defaults(args(), env, modules={"keras": None, "torch": None})
    assert env == {}


COMMAND = (
    "import sys; from twinnet.exporters.process import command; "
    "sys.argv = ['twinnet', 'convert', sys.argv[1], '--to', 'torch', '-o', sys.argv[2], '--json']; rc = command(); "
    "import keras; print(rc, keras.backend.backend(), 'tensorflow' in sys.modules)"
)


def test_the_command_converts_a_keras_file_to_torch_without_loading_tensorflow(tmp_path):
    src = tmp_path / "small_cnn.keras"
    sibling("exporters/test_cli_convert.py").small_cnn().save(src)
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "OMP_WAIT_POLICY")}
    done = subprocess.run(
        [sys.executable, "-c", COMMAND, str(src), str(tmp_path / "out")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    *report, last = done.stdout.strip().splitlines()
    assert last == "0 torch False"  # converted, verified (exit 0), by Keras on torch, TensorFlow never loaded
    rows = json.loads("\n".join(report))["report"]["rows"]
    assert {r["pair"] for r in rows} == {
        "source-keras vs emitted-torch",
        "source-keras vs onnx-ir",
        "emitted-torch vs onnx-ir",
    }
    assert all(r["ok"] and r["informative"] for r in rows)
