"""Whole models on Keras's other backends: what to_keras builds of some of the round trips' models computes the
same under KERAS_BACKEND=torch and jax (each in a worker process without TensorFlow, tests/keras_backends.py) as
on TensorFlow, at two batch sizes (and two lengths where one is symbolic). check_layer runs every layer
and op so; these models combine them."""

from __future__ import annotations

import keras_backends
import pytest
from siblings import benchmark

from twinnet.exporters import verify

rt = benchmark("roundtrip")
#: models of the round trips that combine layers in the ways a backend could get wrong: a Flatten folded into a
#: Dense, sequence-first recurrent layers, a bidirectional GRU, attention with a padding mask, a user's own Keras
#: layer
MODELS = ["mnist_convnet", "lstm_sentiment_sequence_first", "gru", "transformer", "custom_keras_layer"]


@pytest.mark.parametrize("name", MODELS)
def test_model_computes_the_same_on_every_keras_backend(name):
    model = rt.source(name)
    assert not keras_backends.gaps_of(model)
    report = verify(model, paths=("keras",), references=keras_backends.references(model))
    assert report.ok, "\n" + report.table()
