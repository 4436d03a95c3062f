"""to_keras(model, training=spec): a compiled model whose fit works as usual, built from the spec's rules."""

import keras
import numpy as np
import pytest

import twinnet
from twinnet import layers as L
from twinnet.backends.keras.training import Crossentropy, SpecSchedule, build_optimizer
from twinnet.ir import training as T


def _model():
    x = twinnet.Input((5,), name="x")
    h = L.Dropout(0.3)(L.Dense(4, activation="relu")(x))
    return twinnet.Model(x, L.Dense(1, activation="sigmoid")(h), name="tiny").initialize(0)


def test_to_keras_compiles_and_fit_works():
    spec = T.TrainingSpec(T.BinaryCrossentropy(), T.AdamW(1e-2), (T.AUC(), T.BinaryAccuracy()), batch_size=4, epochs=2)
    km = twinnet.to_keras(_model(), training=spec)
    assert isinstance(km.optimizer, keras.optimizers.AdamW) and isinstance(km.loss, Crossentropy)
    rng = np.random.default_rng(0)
    hist = km.fit(rng.random((12, 5), np.float32), rng.integers(0, 2, (12, 1)), epochs=2, verbose=0).history
    assert set(hist) == {"loss", "auc", "binary_accuracy"} and len(hist["loss"]) == 2
    assert getattr(twinnet.to_keras(_model()), "optimizer", None) is None  # without training= nothing changes


def test_training_true_uses_the_spec_the_model_carries():
    model = _model()
    with pytest.raises(twinnet.ConfigError, match="model 'tiny' carries no training spec"):
        twinnet.to_keras(model, training=True)
    model.training = T.TrainingSpec(T.MeanSquaredError(), T.RMSprop(), parity=True)
    with pytest.warns(UserWarning, match="parity mode: dropout turned off in dropout"):
        km = twinnet.to_keras(model, training=True)
    assert isinstance(km.optimizer, keras.optimizers.RMSprop) and km.get_layer("dropout").rate == 0


def test_the_schedule_gives_the_rule_rate_at_every_update():
    schedule = T.WarmUp(T.StepDecay(0.1, step_size=3, gamma=0.5), warmup_steps=4)
    keras_rates = [float(SpecSchedule(schedule)(t)) for t in range(8)]
    np.testing.assert_allclose(keras_rates, [schedule.rate(t) for t in range(8)], rtol=1e-7)
    opt = build_optimizer(T.TrainingSpec(T.Huber(), T.SGD(schedule, momentum=0.5), clip_norm=2.0))
    assert opt.global_clipnorm == 2.0 and opt.nesterov is False
