"""The installed package: one top-level name, ``twinnet``, holding every module of the repository.

The repository root is the ``twinnet`` package (pyproject.toml maps ``twinnet`` to ``./``), so ``ir/``,
``backends/`` and ``exporters/`` install as ``twinnet.ir``, ``twinnet.backends`` and ``twinnet.exporters``
and must never appear as top-level modules of their own.

SLOW (about a minute): ``test_the_wheel_*`` build the wheel from a copy of the repository and install it into a
fresh virtual environment (``--system-site-packages``, so torch and Keras come from this machine).
"""

import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = ("ir", "backends", "exporters")
FRAMEWORKS = ("torch", "tensorflow", "keras", "jax", "onnx", "onnxruntime")


def run(args, cwd, timeout=600, env=None):
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def python(code: str, cwd, exe=sys.executable, timeout=600) -> str:
    return run([exe, "-c", code], cwd=cwd, timeout=timeout)


def source_modules() -> list[str]:
    """Every .py file of the package, as its path inside the wheel (``twinnet/ir/graph.py``)."""
    files = [REPO / "__init__.py"] + sorted(
        p for d in PACKAGE_DIRS for p in (REPO / d).rglob("*.py") if "__pycache__" not in p.parts
    )
    return ["twinnet/" + p.relative_to(REPO).as_posix() for p in files]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of the repository (the checkout itself gets no build/ or egg-info)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(
        REPO,
        src,
        ignore=shutil.ignore_patterns(
            ".git", "tests", "build", "dist", "*.egg-info", "__pycache__", ".*cache", ".hypothesis", "*.onnx*"
        ),
    )
    # No network here: build against the setuptools already installed rather than in an isolated environment.
    # `build` comes with the test extras; pip (always there) builds the same wheel through the same backend.
    if importlib.util.find_spec("build"):
        run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", tmp / "dist", src], cwd=tmp)
    else:
        run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--no-build-isolation",
                "--no-index",
                "--quiet",
                "--wheel-dir",
                tmp / "dist",
                src,
            ],
            cwd=tmp,
        )
    (path,) = (tmp / "dist").glob("twinnet-*.whl")
    return path


def test_the_wheel_has_one_top_level_name(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        (top_level,) = [n for n in names if n.endswith(".dist-info/top_level.txt")]
        assert z.read(top_level).decode().split() == ["twinnet"]
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"twinnet"}, f"top-level entries besides twinnet: {sorted(tops - {'twinnet'})}"


def test_the_wheel_holds_every_module(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    missing = [m for m in source_modules() if m not in names]
    assert not missing, f"{len(missing)} module(s) not in the wheel: {missing[:20]}"


def readme_example() -> str:
    """The first ```python block of README.md: what a new user runs first."""
    blocks = re.findall(r"^```python\n(.*?)^```", (REPO / "README.md").read_text(), re.S | re.M)
    assert blocks, "README.md has no ```python block"
    return blocks[0]


def test_the_wheel_installs_and_runs_the_readme_example(wheel, tmp_path):
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--system-site-packages", venv], cwd=tmp_path)
    exe = venv / "bin" / "python" if os.name != "nt" else venv / "Scripts" / "python.exe"
    run([exe, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", wheel], cwd=tmp_path)
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = python("import twinnet; print(twinnet.__file__)", cwd=work, exe=exe).strip()
    assert Path(where).resolve().is_relative_to(venv.resolve()), f"twinnet imported from {where}, not the venv"
    (work / "readme_example.py").write_text(readme_example())
    run([exe, "readme_example.py"], cwd=work, timeout=900)
    assert run([venv / "bin" / "twinnet", "--version"], cwd=work).strip() == f"twinnet {version()}"


def version() -> str:
    from twinnet.ir.serde import VERSION

    return VERSION


def test_a_conversion_leaves_no_stray_top_level_modules(tmp_path):
    code = (
        "import sys, twinnet\n"
        "from twinnet import layers as L\n"
        "x = twinnet.Input(shape=(8, 8, 3), layout='NHWC', name='image')\n"
        "y = L.Dense(4)(L.Flatten()(L.Conv2D(2, 3)(x)))\n"
        "m = twinnet.Model(inputs=x, outputs=y, name='small').initialize(seed=0)\n"
        f"for to in ('torch', 'keras'): twinnet.convert(m, to, {str(tmp_path)!r} + '/' + to)\n"
        "print(sorted(n for n in sys.modules if n.split('.')[0] in ('ir', 'backends', 'exporters')))\n"
    )
    out = python(code, cwd=tmp_path).strip().splitlines()[-1]
    assert out == "[]", f"modules outside the twinnet package: {out}"


def test_import_twinnet_loads_no_framework(tmp_path):
    code = f"import sys, twinnet; print(sorted(n for n in {FRAMEWORKS!r} if n in sys.modules))"
    assert python(code, cwd=tmp_path).strip() == "[]"


def test_version_from_the_console_script_and_the_module(tmp_path):
    script = shutil.which("twinnet", path=str(Path(sys.executable).parent)) or shutil.which("twinnet")
    assert script, "the twinnet console script is not installed"
    expected = f"twinnet {version()}"
    assert run([script, "--version"], cwd=tmp_path).strip() == expected
    assert run([sys.executable, "-m", "twinnet.exporters", "--version"], cwd=tmp_path).strip() == expected


def test_the_installed_distribution_names_only_twinnet():
    dist = importlib.metadata.distribution("twinnet")
    assert (dist.read_text("top_level.txt") or "").split() == ["twinnet"]
    owners = importlib.metadata.packages_distributions()
    assert not [name for name in ("ir", "backends", "exporters") if name in owners]
    assert set(owners.get("twinnet", [])) == {"twinnet"}
