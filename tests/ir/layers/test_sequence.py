"""Embedding and recurrent layers: batch-first and sequence-first, every option."""

import pytest
from layer_check import check_layer, sequence, tokens

from twinnet.ir import layers as L

RNNS = {
    "simple": L.SimpleRNN(5),
    "simple-seq": L.SimpleRNN(5, return_sequences=True),
    "simple-relu": L.SimpleRNN(5, activation="relu"),
    "simple-no-bias": L.SimpleRNN(5, use_bias=False),
    "lstm": L.LSTM(5),
    "lstm-seq": L.LSTM(5, return_sequences=True),
    "lstm-no-bias": L.LSTM(5, use_bias=False),
    "gru": L.GRU(5),
    "gru-seq": L.GRU(5, return_sequences=True),
    "gru-reset-before": L.GRU(5, reset_after=False),
    "gru-reset-before-seq": L.GRU(5, return_sequences=True, reset_after=False),
    "gru-no-bias": L.GRU(5, use_bias=False),
    "bi-lstm": L.Bidirectional(L.LSTM(5)),
    "bi-lstm-seq": L.Bidirectional(L.LSTM(5, return_sequences=True)),
    "bi-gru": L.Bidirectional(L.GRU(5)),
    "bi-gru-reset-before-seq": L.Bidirectional(L.GRU(5, True, True, reset_after=False)),
    "bi-simple-seq": L.Bidirectional(L.SimpleRNN(5, return_sequences=True)),
}


@pytest.mark.parametrize("layout", ["NTC", "TNC"])
@pytest.mark.parametrize("name", list(RNNS))
def test_recurrent(name, layout, tmp_path):
    check_layer(RNNS[name], sequence(layout), tmp_path=tmp_path)


@pytest.mark.parametrize("name", ["lstm", "gru-seq", "bi-lstm-seq", "simple"])
@pytest.mark.parametrize("layout", ["NTC", "TNC"])
def test_recurrent_symbolic_length(name, layout):
    check_layer(RNNS[name], sequence(layout, steps=None))


@pytest.mark.parametrize("layout", ["NT", "TN"])
def test_embedding(layout):
    check_layer(L.Embedding(30, 4), tokens(layout), expect_shape=(None, 7, 4) if layout == "NT" else (7, None, 4))
    check_layer(L.Embedding(30, 4), tokens(layout, steps=None))


def test_embedding_int64_tokens():
    check_layer(L.Embedding(30, 4), {**tokens("NT"), "dtype": "int64"})


def test_onnx_stacked_recurrent_transposes_once():
    """onnxruntime runs recurrent ops sequence-first only (it refuses ``layout=1``): a batch-first stack is
    transposed once at its input, and each layer's sequence stays held time-first for the next."""
    from twinnet import ir
    from twinnet.backends.onnx import to_onnx

    x = ir.Input((None, 4), layout="NTC")
    h = L.Bidirectional(L.LSTM(5, return_sequences=True))(x)
    h = L.GRU(3, return_sequences=True)(h)
    model = ir.Model(x, L.SimpleRNN(2)(h), name="stack").randomize(0)
    ops = [n.op_type for n in to_onnx(model).graph.node]
    assert ops == ["Transpose", "LSTM", "Transpose", "Reshape", "GRU", "Squeeze", "RNN", "Squeeze"], ops
