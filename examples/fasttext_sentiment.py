"""fastText-style sentiment classifier: mean of word embeddings, then a logistic unit.

Token ids are ``int32`` with layout ``NT`` (42 tokens per review, vocabulary
of 20,000). ``GlobalAvgPool1D`` averages over the time axis ``T``, which
torch and Keras hold at different positions; the IR names the axis, so both
average the same one.

    twinnet verify examples/fasttext_sentiment.py:build

>>> build().count_params()
1000051
"""

import twinnet
from twinnet import layers as L


def build(seed: int = 0) -> twinnet.Model:
    """Embedding(20000, 50) -> mean over tokens -> Dense(1, sigmoid), initialised from ``seed``."""
    x = twinnet.Input(shape=(42,), dtype="int32", name="tokens")
    h = L.Embedding(20000, 50)(x)
    h = L.GlobalAvgPool1D()(h)
    y = L.Dense(1, activation="sigmoid")(h)
    return twinnet.Model(inputs=x, outputs=y, name="fasttext_sentiment").initialize(seed)


if __name__ == "__main__":
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow is imported
    from twinnet import verify

    model = build()
    model.summary()
    report = verify(model)
    print(report.table())
    raise SystemExit(0 if report.ok else 1)
