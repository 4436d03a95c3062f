"""twinnet.fit (torch): history, train/eval switching, callbacks, devices, data, and agreement with Keras's fit."""

import numpy as np
import pytest
import torch

import twinnet
from twinnet import layers as L
from twinnet.backends.torch.training import EarlyStopping, ModelCheckpoint
from twinnet.ir import training as T
from twinnet.ir.training.data import Batches, FixedBatches


def _mlp(seed=0, dropout=0.0):
    x = twinnet.Input((6,), name="x")
    h = L.Dense(8, activation="relu")(x)
    h = L.Dropout(dropout)(L.BatchNorm()(h))
    return twinnet.Model(x, L.Dense(3, activation="softmax")(h), name="mlp").initialize(seed)


def _xy(n=20, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6)).astype(np.float32), rng.integers(0, 3, n)


METRICS = (T.SparseCategoricalAccuracy(), T.metrics.MeanSquaredError())


def test_fit_matches_keras_fit_epoch_by_epoch():
    model = _mlp()
    spec = T.TrainingSpec(
        T.SparseCategoricalCrossentropy(),
        T.Adam(1e-2),
        (T.SparseCategoricalAccuracy(),),
        batch_size=6,
        epochs=3,
        seed=4,
    )
    x, y = _xy()
    xv, yv = _xy(9, seed=1)
    km = twinnet.to_keras(model, training=spec)
    from twinnet.backends.keras.training import as_dataset

    keras_hist = km.fit(as_dataset((x, y), spec), validation_data=(xv, yv), epochs=3, shuffle=False, verbose=0).history
    torch_hist = twinnet.fit(twinnet.to_torch(model), spec, (x, y), validation_data=(xv, yv), device="cpu").history
    assert (
        set(torch_hist)
        == set(keras_hist)
        == {"loss", "sparse_categorical_accuracy", "val_loss", "val_sparse_categorical_accuracy"}
    )
    for key, values in keras_hist.items():
        np.testing.assert_allclose(torch_hist[key], values, rtol=1e-5, atol=1e-6, err_msg=key)


def test_metrics_agree_with_keras():
    rng = np.random.default_rng(0)
    from twinnet.backends.keras.training import build_metric as keras_metric
    from twinnet.backends.torch.training import build_metric as torch_metric

    for metric, y_true, y_pred in [
        (T.BinaryAccuracy(0.3), rng.integers(0, 2, (10, 2)).astype(np.float32), rng.random((10, 2), np.float32)),
        (T.AUC(20), rng.integers(0, 2, (30, 1)).astype(np.float32), rng.random((30, 1), np.float32)),
        (T.CategoricalAccuracy(), np.eye(4, dtype=np.float32)[rng.integers(0, 4, 9)], rng.random((9, 4), np.float32)),
        (T.SparseCategoricalAccuracy(), rng.integers(0, 4, 9), rng.random((9, 4), np.float32)),
        (T.metrics.MeanAbsoluteError(), rng.random((7, 3), np.float32), rng.random((7, 3), np.float32)),
    ]:
        k, t = keras_metric(metric), torch_metric(metric)
        for part in (slice(0, 4), slice(4, None)):
            k.update_state(y_true[part], y_pred[part])
            t.update(y_pred[part], y_true[part])
        np.testing.assert_allclose(t.result(), float(k.result()), rtol=1e-5, err_msg=metric.name)


def test_parity_mode_turns_dropout_off_and_says_so():
    module = twinnet.to_torch(_mlp(dropout=0.5))
    spec = T.TrainingSpec(T.SparseCategoricalCrossentropy(), T.SGD(0.1), parity=True, batch_size=5)
    with pytest.warns(UserWarning, match="parity mode: dropout turned off in dropout"):
        twinnet.fit(module, spec, _xy(), device="cpu", verbose=False)
    assert all(m.p == 0 for m in module.modules() if isinstance(m, torch.nn.Dropout))
    assert not module.training  # fit leaves the module in eval mode


def test_early_stopping_restores_the_best_weights_and_checkpoints_are_written(tmp_path):
    module = twinnet.to_torch(_mlp())
    spec = T.TrainingSpec(T.SparseCategoricalCrossentropy(), T.SGD(2.0), batch_size=4, epochs=30)
    stop = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    save = ModelCheckpoint(tmp_path / "best.pt", save_best_only=True)
    hist = twinnet.fit(module, spec, _xy(), validation_data=_xy(8, 1), callbacks=[stop, save], device="auto")
    assert stop.stopped_epoch is not None and len(hist.epoch) == stop.stopped_epoch + 1 < 30
    best = min(hist.history["val_loss"])
    assert stop.best == best
    saved = torch.load(tmp_path / "best.pt")  # the best epoch's weights, which early stopping put back
    for key, value in module.state_dict().items():
        torch.testing.assert_close(saved[key], value)


def test_shuffling_is_seeded_and_every_sample_is_seen_once_per_epoch():
    b = Batches(np.arange(10), np.arange(10), batch_size=3, seed=7)
    first = np.concatenate([x for x, _ in b.epoch(0)])
    assert sorted(first) == list(range(10)) and list(first) != list(range(10))
    assert list(first) == list(
        np.concatenate([x for x, _ in Batches(np.arange(10), np.arange(10), batch_size=3, seed=7).epoch(0)])
    )
    assert list(first) != list(np.concatenate([x for x, _ in b.epoch(1)]))


def test_an_iterable_of_batches_feeds_both():
    x, y = _xy(8)
    batches = [(x[:4], y[:4]), (x[4:], y[4:])]
    spec = T.TrainingSpec(T.SparseCategoricalCrossentropy(), T.SGD(0.1), epochs=2)
    hist = twinnet.fit(twinnet.to_torch(_mlp()), spec, iter(batches), device="cpu")
    assert len(hist.history["loss"]) == 2
    assert len(FixedBatches(batches)) == 2


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m, s: twinnet.fit(m, s, _xy(), device="tpu"), "device must be 'cpu', 'cuda' or 'auto', got 'tpu'"),
        (lambda m, s: twinnet.fit(m, "adam", _xy()), "spec must be a TrainingSpec, got str"),
        (lambda m, s: twinnet.fit(m, s, (np.zeros((3, 6)), np.zeros(4))), "same number of samples, got lengths [3, 4]"),
        (lambda m, s: twinnet.fit(m, s, 5), "expected (x, y) arrays or an iterable of (x, y) batches, got int"),
        (lambda m, s: twinnet.fit(m, s, _xy(), callbacks=[print]), "callbacks must be twinnet Callback objects"),
    ],
)
def test_bad_calls_are_named(call, message):
    spec = T.TrainingSpec(T.SparseCategoricalCrossentropy(), T.SGD(0.1))
    with pytest.raises(twinnet.ConfigError) as info:
        call(twinnet.to_torch(_mlp()), spec)
    assert message in str(info.value)
