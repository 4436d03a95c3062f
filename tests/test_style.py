"""Ruff (configured in pyproject.toml) passes over the project and over the sources twinnet emits.

A failure lists each offending file with its rule codes (or "would reformat"), one line per file.
"""

import importlib.util
import inspect
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

import twinnet
from twinnet import layers as L

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "pyproject.toml"


def ruff(*args, cwd) -> subprocess.CompletedProcess:
    # The ruff package (test extras) runs its binary with `python -m ruff`, wherever it put it.
    return subprocess.run(
        [sys.executable, "-m", "ruff", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def problems(folder: Path, *config) -> list[str]:
    """One line per offending file: its path and the rules it breaks, or 'would reformat'."""
    found = defaultdict(set)
    check = ruff("check", "--output-format=concise", "--no-cache", *config, ".", cwd=folder)
    for line in check.stdout.splitlines():
        parts = line.split(":", 3)
        if len(parts) == 4 and parts[3].strip():
            found[parts[0]].add(parts[3].split()[0])
    fmt = ruff("format", "--check", "--no-cache", *config, ".", cwd=folder)
    for line in fmt.stdout.splitlines():
        if line.startswith("Would reformat: "):  # ruff before 0.9 prints this, later ones a diagnostic
            found[line.removeprefix("Would reformat: ")].add("would reformat")
        elif line.startswith("unformatted: "):
            pass
        elif line.lstrip().startswith("--> "):
            found[line.split("-->", 1)[1].strip().split(":")[0]].add("would reformat")
    if check.returncode not in (0, 1) or fmt.returncode not in (0, 1):  # 2: ruff itself failed
        return [f"ruff failed: {check.stderr.strip()} {fmt.stderr.strip()}"]
    return [f"{path}: {', '.join(sorted(rules))}" for path, rules in sorted(found.items())]


def report(found: list[str]) -> str:
    return f"{len(found)} file(s) fail ruff:\n" + "\n".join(found[:60]) + ("\n..." if len(found) > 60 else "")


def test_the_project_passes_ruff():
    found = problems(REPO)
    if found:
        pytest.fail(report(found), pytrace=False)


def example_models():
    """The IR models the examples build with ``build()`` taking no required argument."""
    for path in sorted((REPO / "examples").glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        build = getattr(module, "build", None)
        if build is None or any(p.default is p.empty for p in inspect.signature(build).parameters.values()):
            continue
        model = build()
        if isinstance(model, twinnet.Model):
            yield path.stem, model


def resnet_like():
    x = twinnet.Input(shape=(16, 16, 3), layout="NHWC", name="image")
    h = L.Conv2D(8, 3, padding="same", name="stem")(x)
    for i in range(2):
        with twinnet.block("BasicBlock", f"layer1_{i}"):
            y = L.Conv2D(8, 3, padding="same", activation="relu", name=f"layer1_{i}_conv1")(h)
            y = L.Conv2D(8, 3, padding="same", name=f"layer1_{i}_conv2")(y)
            h = L.ReLU(name=f"layer1_{i}_relu")(L.Add(name=f"layer1_{i}_add")([h, y]))
    y = L.Dense(10)(L.GlobalAvgPool2D()(h))
    return twinnet.Model(inputs=x, outputs=y, name="resnet_like").initialize(seed=0)


def mobilenet_v2():
    import keras

    return twinnet.from_keras(keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3)))


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_emitted_sources_pass_ruff(tmp_path, framework):
    models = [*example_models(), ("resnet_like", resnet_like()), ("mobilenet_v2", mobilenet_v2())]
    for name, model in models:
        (tmp_path / f"{name}.py").write_text(twinnet.emit(model, framework))
    found = problems(tmp_path, "--config", CONFIG)
    if found:
        pytest.fail(report(found), pytrace=False)
