"""A user's own script that imports twinnet and runs a Keras model leaves stderr clean, unless the user asked
TensorFlow for logs with TF_CPP_MIN_LOG_LEVEL (then twinnet leaves that alone)."""

import os
import subprocess
import sys
import textwrap

USER_SCRIPT = textwrap.dedent("""
    import numpy as np
    import twinnet
    from twinnet import layers as L

    x = twinnet.Input(shape=(8, 8, 3), layout="NHWC", name="image")
    y = L.Dense(4)(L.Flatten()(L.Conv2D(2, 3)(x)))
    model = twinnet.Model(inputs=x, outputs=y, name="small").initialize(seed=0)
    km = twinnet.to_keras(model)
    print(tuple(km(np.zeros((1, 8, 8, 3), np.float32)).shape))
""")

# What TensorFlow writes at start-up: absl's preamble, C++ log lines ("I0000 00:00:... file.cc:N]"), oneDNN notes.
TF_LINE_MARKS = ("absl::InitializeLog", ".cc:", "oneDNN", "TensorFlow binary is optimized", "rebuild TensorFlow")


def run_user_script(tmp_path, **env_changes):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(env_changes)
    script = tmp_path / "user.py"
    script.write_text(USER_SCRIPT)
    return subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )


def test_a_users_keras_script_leaves_stderr_clean(tmp_path):
    done = run_user_script(tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(1, 4)"
    tf_lines = [line for line in done.stderr.splitlines() if any(m in line for m in TF_LINE_MARKS)]
    assert tf_lines == [], "\n".join(tf_lines)


def check(code: str, **env_changes) -> str:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(env_changes)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


PROBE = (
    "import os, sys, twinnet\n"
    "from twinnet.exporters.quiet import _QuietTensorFlow\n"
    "print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'), any(isinstance(f, _QuietTensorFlow) for f in sys.meta_path))"
)


def test_import_twinnet_quiets_tensorflow_by_default():
    assert check(PROBE) == "3 True"


def test_a_level_the_user_set_is_respected():
    assert check(PROBE, TF_CPP_MIN_LOG_LEVEL="0") == "0 False"
    assert check(PROBE, TF_CPP_MIN_LOG_LEVEL="1") == "1 False"
