"""Files twinnet writes get the mode a plain ``open`` would give them: ``0o666 & ~umask`` (not mkstemp's 0600)."""

import os
import stat

import pytest

import twinnet
from twinnet import layers as L


@pytest.fixture(params=[0o022, 0o002], ids=["umask022", "umask002"])
def umask(request):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def small_model():
    x = twinnet.Input(shape=(8, 8, 3), layout="NHWC", name="image")
    y = L.Dense(4)(L.Flatten()(L.Conv2D(2, 3)(x)))
    return twinnet.Model(inputs=x, outputs=y, name="small").initialize(seed=0)


@pytest.mark.parametrize("via", ["ir", "torch", "keras"])
def test_export_onnx_follows_the_umask(tmp_path, umask, via):
    path = twinnet.export_onnx(small_model(), tmp_path / "m.onnx", via=via)
    assert mode(path) == 0o666 & ~umask, oct(mode(path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]  # no temporary file left behind


def test_a_re_export_keeps_the_mode_of_the_file_it_replaces(tmp_path, umask):
    path = tmp_path / "m.onnx"
    twinnet.export_onnx(small_model(), path, via="ir")
    os.chmod(path, 0o640)
    twinnet.export_onnx(small_model(), path, via="ir")
    assert mode(path) == 0o640


@pytest.mark.parametrize("suffix", [".json", ".safetensors"])
def test_save_follows_the_umask(tmp_path, umask, suffix):
    twinnet.save(small_model(), tmp_path / f"m{suffix}")
    assert {mode(p) for p in tmp_path.iterdir()} == {0o666 & ~umask}
