"""LSTM sentiment classifier, batch-first and sequence-first.

Two traps live here. Keras and torch store LSTM weights differently (Keras:
one ``(features, 4*units)`` kernel with gates i, f, c, o and one bias; torch:
``weight_ih``/``weight_hh`` transposed, and two biases), and torch's LSTM
defaults to sequence-first while Keras is always batch-first. twinnet keeps
Keras's weight layout and converts once at compile time, and the input's
declared layout (``NT`` or ``TN``) says which axis is time.

    twinnet verify examples/lstm_sentiment.py:build
    twinnet verify examples/lstm_sentiment.py:build_sequence_first

>>> build_sequence_first().inputs[0].shape
(42, None)
"""

import twinnet
from twinnet import layers as L


def _lstm(layout: str, name: str, seed: int) -> twinnet.Model:
    x = twinnet.Input(shape=(42,), dtype="int32", layout=layout, name="tokens")
    h = L.Embedding(20000, 32)(x)
    h = L.LSTM(64)(h)
    y = L.Dense(1, activation="sigmoid")(h)
    return twinnet.Model(inputs=x, outputs=y, name=name).initialize(seed)


def build(seed: int = 0) -> twinnet.Model:
    """Tokens ``(batch, 42)`` (layout ``NT``) -> Embedding(20000, 32) -> LSTM(64) -> Dense(1, sigmoid)."""
    return _lstm("NT", "lstm_sentiment", seed)


def build_sequence_first(seed: int = 0) -> twinnet.Model:
    """The same network fed sequence-first: tokens ``(42, batch)``, layout ``TN``."""
    return _lstm("TN", "lstm_sentiment_tn", seed)


if __name__ == "__main__":
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow is imported
    from twinnet import verify

    for model in (build(), build_sequence_first()):
        model.summary()
        report = verify(model)
        print(report.table())
        if not report.ok:
            raise SystemExit(1)
