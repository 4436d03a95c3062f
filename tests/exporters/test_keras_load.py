"""A .keras file loads without its weights file held in memory, as load_model would load it, or by load_model."""

import os
import zipfile

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from twinnet.exporters.keras_load import _plain, load_keras_file  # noqa: E402


def saved(tmp_path, km, name="m.keras"):
    for i, v in enumerate(km.weights):
        v.assign(np.random.default_rng(i).standard_normal(tuple(v.shape)).astype("float32"))
    path = tmp_path / name
    km.save(path)
    return path


def convnet():
    x = keras.Input((6, 6, 2))
    h = keras.layers.BatchNormalization()(keras.layers.Conv2D(3, 3)(x))
    return keras.Model(x, keras.layers.Dense(2)(keras.layers.Flatten()(h)))


def test_a_plain_archive_loads_as_load_model_loads_it(tmp_path):
    path = saved(tmp_path, convnet())
    lean = _plain(path, keras)
    assert lean is not None  # the plain road was taken
    want = keras.saving.load_model(path, safe_mode=True, compile=False)
    for a, b in zip(lean.weights, want.weights):
        np.testing.assert_array_equal(np.asarray(a.numpy()), np.asarray(b.numpy()))
    x = np.random.default_rng(0).standard_normal((2, 6, 6, 2)).astype("float32")
    np.testing.assert_array_equal(np.asarray(lean(x)), np.asarray(want(x)))


def test_anything_else_goes_to_load_model(tmp_path):
    path = saved(tmp_path, convnet())
    extra = tmp_path / "extra.keras"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(extra, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item.filename))
        dst.writestr("assets/vocab.txt", "a\nb\n")
    assert _plain(extra, keras) is None  # assets: load_model's business
    assert isinstance(load_keras_file(extra), keras.Model)
    x = keras.Input((3,))
    lam = keras.Model(x, keras.layers.Lambda(lambda t: t * 2)(x))
    lam_path = tmp_path / "lambda.keras"
    lam.save(lam_path)
    assert _plain(lam_path, keras) is None
    with pytest.raises(ValueError, match="(?i)unsafe|safe_mode"):  # safe_mode still refuses the Lambda
        load_keras_file(lam_path)
