"""The training spec: checks on construction, the dict round trip, and saving with the model file."""

import json

import pytest

from twinnet import ir
from twinnet.ir import layers as L
from twinnet.ir import training as T

ALL_OPTIMIZERS = [
    T.SGD(0.1),
    T.SGD(T.StepDecay(0.1, step_size=3, gamma=0.5), momentum=0.9, nesterov=True, weight_decay=1e-3),
    T.Adam(T.WarmUp(T.CosineDecay(1e-3, decay_steps=10, alpha=0.1), warmup_steps=4)),
    T.AdamW(),
    T.RMSprop(1e-2, rho=0.8, epsilon=1e-6),
]
ALL_LOSSES = [
    T.BinaryCrossentropy(),
    T.BinaryCrossentropy(from_logits=True),
    T.CategoricalCrossentropy(),
    T.SparseCategoricalCrossentropy(from_logits=True),
    T.MeanSquaredError(),
    T.MeanAbsoluteError(),
    T.Huber(delta=0.5),
]
ALL_METRICS = (
    T.BinaryAccuracy(0.4),
    T.CategoricalAccuracy(),
    T.SparseCategoricalAccuracy(),
    T.AUC(50),
    T.metrics.MeanSquaredError(),
    T.metrics.MeanAbsoluteError(),
)


@pytest.mark.parametrize("optimizer", ALL_OPTIMIZERS, ids=lambda o: type(o).__name__)
@pytest.mark.parametrize("loss", ALL_LOSSES, ids=lambda o: type(o).__name__)
def test_round_trip_through_json(optimizer, loss):
    spec = T.TrainingSpec(
        loss, optimizer, ALL_METRICS, T.Regularization(l2=1e-4), clip_norm=1.0, batch_size=8, epochs=3, seed=5
    )
    back = T.TrainingSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert back == spec


def test_a_number_is_a_constant_schedule_and_schedules_follow_their_rule():
    assert T.Adam(0.5).learning_rate == T.Constant(0.5)
    assert [T.StepDecay(1.0, step_size=2, gamma=0.5).rate(t) for t in range(5)] == [1.0, 1.0, 0.5, 0.5, 0.25]
    assert T.CosineDecay(2.0, decay_steps=4, alpha=0.25).rate(4) == 0.5
    assert T.CosineDecay(2.0, decay_steps=4).rate(100) == 0.0
    assert [T.WarmUp(T.Constant(1.0), warmup_steps=4).rate(t) for t in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: T.Adam(-1.0), "training spec: Adam: learning_rate must be > 0, got -1.0"),
        (lambda: T.SGD(0.1, nesterov=True), "training spec: SGD: nesterov=True needs a momentum > 0"),
        (lambda: T.SGD(0.1, momentum=1.0), "training spec: SGD: momentum must be < 1.0, got 1.0"),
        (lambda: T.RMSprop(rho=float("nan")), "training spec: RMSprop: rho must be a finite number, got nan"),
        (lambda: T.Huber(delta=0), "training spec: Huber: delta must be > 0, got 0.0"),
        (lambda: T.BinaryCrossentropy(from_logits=1), "from_logits must be True or False, got 1"),
        (lambda: T.TrainingSpec(T.Huber(), T.SGD(), batch_size=0), "batch_size must be an integer >= 1, got 0"),
        (lambda: T.TrainingSpec(T.Huber(), "adam"), "optimizer: must be one of SGD, Adam, AdamW, RMSprop"),
        (lambda: T.TrainingSpec(T.Huber(), T.SGD(), clip_norm=1, clip_value=1), "clip_norm or clip_value, not both"),
        (
            lambda: T.TrainingSpec(T.Huber(), T.SGD(), (T.AUC(), T.AUC(10))),
            "metrics: a metric is listed twice: ['auc', 'auc']",
        ),
        (lambda: T.WarmUp(T.Adam(), 3), "WarmUp: schedule must be Constant, StepDecay or CosineDecay, got Adam"),
    ],
)
def test_bad_arguments_are_named(build, message):
    with pytest.raises(ir.ConfigError) as info:
        build()
    assert message in str(info.value)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.update(optimizer={"kind": "Adagrad"}), "unknown optimizer 'Adagrad'; known: Adam, AdamW"),
        (lambda d: d["loss"].update(reduction="sum"), "loss BinaryCrossentropy has no field(s) 'reduction'"),
        (lambda d: d.update(steps=3), "training spec: unknown field(s) 'steps'"),
        (lambda d: d.pop("loss"), "training spec: missing field 'loss'"),
        (lambda d: d["optimizer"].update(learning_rate={"kind": "Linear"}), "unknown schedule 'Linear'"),
    ],
)
def test_bad_files_are_refused(edit, message):
    data = T.TrainingSpec(T.BinaryCrossentropy(), T.Adam()).to_dict()
    edit(data)
    with pytest.raises(ir.SchemaError) as info:
        T.TrainingSpec.from_dict(data)
    assert message in str(info.value)


def _model():
    x = ir.Input((4,), name="x")
    return ir.Model(x, L.Dense(2)(x), name="tiny").initialize(0)


@pytest.mark.parametrize("suffix", [".json", ".safetensors"])
def test_the_spec_is_saved_with_the_model(tmp_path, suffix):
    model = _model()
    model.training = T.TrainingSpec(T.MeanSquaredError(), T.SGD(T.CosineDecay(0.1, 10), momentum=0.5), epochs=2)
    back = ir.load(ir.save(model, tmp_path / f"m{suffix}"))
    assert back.training == model.training
    assert ir.load(ir.save(_model(), tmp_path / f"n{suffix}")).training is None


def test_version_2_files_migrate_and_a_bad_spec_is_refused():
    model = _model()
    data = ir.to_dict(model)
    assert data["format_version"] == ir.FORMAT_VERSION and "training" not in data
    v2 = {**data, "format_version": 2}
    assert ir.to_dict(ir.from_dict(v2)) == data
    model.training = T.TrainingSpec(T.Huber(), T.RMSprop())
    bad = ir.to_dict(model)
    bad["training"]["optimizer"]["rho"] = 2.0
    with pytest.raises(ir.ConfigError, match="training spec: RMSprop: rho must be < 1.0, got 2.0"):
        ir.from_dict(bad)
    model.training = "adam"
    with pytest.raises(ir.SchemaError, match="'training' must be a TrainingSpec or None, got str"):
        ir.to_dict(model)
