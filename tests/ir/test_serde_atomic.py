"""Saves are atomic and deterministic.

A save writes ``.<name>.<random>.tmp`` beside the target and renames it into
place, so a process killed mid-save (SIGKILL: no cleanup runs) leaves the
previous model intact, bit for bit, in both file forms. Saving the same model
gives the same bytes, in one process or in two.
"""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from twinnet import ir
from twinnet.ir import layers as L

# Child process: build a model of ~128 MB of weights (seed from argv) and save it once.
_BIG_SAVE = """
import sys
from twinnet import ir
from twinnet.ir import layers as L
x = ir.Input((4096,), name="x")
m = ir.Model(x, L.Dense(8192, name="big")(x), name="big").initialize(int(sys.argv[2]))
print("built", flush=True)
ir.save(m, sys.argv[1])
"""


def _digests(folder: Path) -> dict[str, str]:
    out = {}
    for p in sorted(folder.iterdir()):
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
        out[p.name] = h.hexdigest()
    return out


def _child(path: Path, seed: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", _BIG_SAVE, str(path), str(seed)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


@pytest.mark.parametrize("name", ["m.safetensors", "m.json"])
def test_killed_save_keeps_previous_file(tmp_path, name):
    path = tmp_path / name
    first = _child(path, 0)
    assert first.wait(timeout=60) == 0, first.stderr.read().decode()
    pattern = f".{path.stem}.*.tmp"  # the weights' temporary file, and in the .json form the JSON's
    killed_mid_save = False
    for seed in (1, 2, 3):  # a kill can land just after the rename: then try again, from the new file
        before = _digests(tmp_path)
        proc = _child(path, seed)
        deadline = time.monotonic() + 30
        while not list(tmp_path.glob(pattern)) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.0005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        after = _digests(tmp_path)
        leftovers = list(tmp_path.glob(pattern))
        for p in leftovers:
            p.unlink()  # what a killed save leaves behind: a stray temporary file, never a torn model
        if after[name] == before[name]:
            # the previous model is still there, unchanged to the last bit, and loads
            assert all(after[k] == v for k, v in before.items())
            model = ir.load(path)
            assert model.weights["big/kernel"].shape == (4096, 8192)
            killed_mid_save = killed_mid_save or bool(leftovers)
            if killed_mid_save:
                break
        else:
            ir.load(path)  # the save finished before the kill: the new model, complete
    assert killed_mid_save, "never managed to kill a save in the middle"


def _model():
    ids, feats = ir.Input((6,), dtype="int32", name="ids"), ir.Input((6, 2), name="feats")
    e = L.Concatenate()([L.Embedding(20, 4)(ids), feats])
    s = L.LSTM(5, return_sequences=True)(L.Bidirectional(L.GRU(3, return_sequences=True))(e))
    img = ir.Input((8, 8, 3), name="img")
    c = L.Flatten()(L.MaxPool2D()(L.BatchNorm()(L.Conv2D(4, 3, padding="same")(img))))
    out = L.Dense(2)(L.Concatenate()([L.GlobalAvgPool1D()(L.LayerNorm()(s)), c]))
    return ir.Model([ids, feats, img], out, name="mix")


_DETERMINISM = """
import hashlib, sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from twinnet import ir
from test_serde_atomic import _model
folder = Path(sys.argv[1])
m = _model().initialize(5)
ir.save(m, folder / "m.safetensors")
ir.save(m, folder / "m.json")
for p in sorted(folder.iterdir()):
    print(p.name, hashlib.sha256(p.read_bytes()).hexdigest())
"""


def test_saves_are_deterministic_across_processes(tmp_path):
    runs = []
    for i, hash_seed in enumerate(("0", "12345")):  # different str hashing: nothing may depend on it
        folder = tmp_path / f"run{i}"
        folder.mkdir()
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        code = _DETERMINISM.format(tests=str(Path(__file__).resolve().parent))
        out = subprocess.run(
            [sys.executable, "-c", code, str(folder)], env=env, capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, out.stderr
        runs.append(out.stdout)
    assert runs[0] == runs[1] and len(runs[0].splitlines()) == 3  # m.json, its weights, m.safetensors
    here = tmp_path / "here"
    here.mkdir()
    m = _model().initialize(5)
    ir.save(m, here / "m.safetensors")
    ir.save(m, here / "m.json")
    assert _digests(here) == dict(line.split() for line in runs[0].splitlines())


def test_saving_twice_gives_identical_files(tmp_path):
    m = _model().initialize(1)
    digests = []
    for folder in ("a", "b", "a"):  # a second folder, then the same path again
        (tmp_path / folder).mkdir(exist_ok=True)
        for name in ("m.safetensors", "m.json"):
            ir.save(m, tmp_path / folder / name)
        digests.append(_digests(tmp_path / folder))
    assert digests[0] == digests[1] == digests[2]  # same bytes, and no stray files
    again = ir.load(tmp_path / "a" / "m.json")
    assert all(np.array_equal(again.weights[k], v) for k, v in m.weights.items())


def test_failed_save_leaves_no_trace(tmp_path, monkeypatch):
    m = _model().initialize(1)
    for name in ("m.safetensors", "m.json"):
        ir.save(m, tmp_path / name)
    before = _digests(tmp_path)

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    other = _model().initialize(2)
    for name in ("m.safetensors", "m.json"):
        with pytest.raises(OSError, match="disk full"):
            ir.save(other, tmp_path / name)
    assert _digests(tmp_path) == before  # old files intact, temporary files removed


def test_saved_files_get_ordinary_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        p = ir.save(_model().initialize(0), tmp_path / "m.safetensors")
        assert p.stat().st_mode & 0o777 == 0o644  # like any new file, not mkstemp's private 0o600
        p.chmod(0o640)
        ir.save(_model().initialize(1), p)
        assert p.stat().st_mode & 0o777 == 0o640  # a re-save keeps the file's permissions
    finally:
        os.umask(umask)
