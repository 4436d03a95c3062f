"""Inputs that fit the model (token ids within the vocabulary, images in range) and the user's .npz files."""

import numpy as np
import pytest

from twinnet import ir
from twinnet.exporters.inputs import load_inputs, model_inputs
from twinnet.ir import layers as L


def two_inputs():
    ids = ir.Input((None,), dtype="int32", name="ids")
    img = ir.Input((8, 8, 3), name="img")
    a = L.GRU(4)(L.Embedding(7, 4)(ids))
    b = L.Flatten()(L.Rescaling(1 / 127.5, offset=-1.0)(img))
    return ir.Model([ids, img], L.Concatenate()([a, L.Dense(4)(b)]), name="two").randomize(0)


def test_token_ids_stay_within_the_smallest_vocabulary():
    ids = ir.Input((None,), dtype="int32", name="ids")
    model = ir.Model(ids, L.Add()([L.Embedding(50, 4)(ids), L.Embedding(6, 4)(ids)]), name="emb").randomize(0)
    (x,) = model_inputs(model, 64, 9, seed=0)
    assert x.dtype == np.int32 and x.min() >= 0 and x.max() == 5


def test_images_are_in_the_range_their_rescaling_maps_to_minus_one_one():
    ids, img = model_inputs(two_inputs(), 16, 5, seed=0)
    assert img.dtype == np.float32 and img.min() >= 0 and img.max() <= 255 and img.max() > 200
    plain = ir.Input((8, 8, 3), name="img")
    model = ir.Model(plain, L.Conv2D(2, 3)(plain), name="plain").randomize(0)
    (x,) = model_inputs(model, 16, 5, seed=0)
    assert x.min() >= -1 and x.max() <= 1 and x.min() < -0.9


def test_npz_inputs_by_name(tmp_path):
    model = two_inputs()
    good = {"ids": np.array([[1, 2, 3], [4, 5, 6]], np.int32), "img": np.zeros((2, 8, 8, 3), np.float32)}
    np.savez(tmp_path / "good.npz", **good)
    ids, img = load_inputs(model, tmp_path / "good.npz")
    assert (ids == good["ids"]).all() and img.shape == (2, 8, 8, 3)


@pytest.mark.parametrize(
    "change, error, message",
    [
        (lambda d: d.pop("img"), ir.ConfigError, "no array for input 'img'"),
        (lambda d: d.update(extra=np.zeros(2)), ir.ConfigError, "no model input named 'extra'"),
        (lambda d: d.update(img=np.zeros((2, 8, 3), np.float32)), ir.ShapeError, "shape"),
        (lambda d: d.update(img=np.zeros((2, 8, 8, 3))), ir.ConfigError, "float64 array, expected float32"),
        (lambda d: d.update(ids=np.zeros((2, 3), np.int64)), ir.ConfigError, "int64 array, expected int32"),
    ],
)
def test_npz_inputs_are_refused_clearly(tmp_path, change, error, message):
    arrays = {"ids": np.zeros((2, 3), np.int32), "img": np.zeros((2, 8, 8, 3), np.float32)}
    change(arrays)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(error, match=message):
        load_inputs(two_inputs(), tmp_path / "bad.npz")


def test_a_file_that_is_not_npz_is_refused(tmp_path):
    (tmp_path / "x.npz").write_text("not a zip")
    with pytest.raises(ir.ConfigError, match="not an .npz file"):
        load_inputs(two_inputs(), tmp_path / "x.npz")
    with pytest.raises(ir.ConfigError, match="no such inputs file"):
        load_inputs(two_inputs(), tmp_path / "missing.npz")
