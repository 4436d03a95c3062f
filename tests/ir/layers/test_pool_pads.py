"""MaxPool/AvgPool with explicit per-side pads (torch's ``padding=``): -inf for max, zeros for average,
counted or not (``count_include_pad``), in both layouts, against Keras, torch and both ONNX files."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gaps import known_gap
from layer_check import check_layer, image, signal

from twinnet import ir
from twinnet.backends import to_keras, to_torch
from twinnet.backends.keras import source as keras_source
from twinnet.ir import layers as L
from twinnet.ir.errors import ConfigError, UnsupportedError

# 9x10 images: along H (odd) torch's (1, 1) pads for k3 s2 are TF's 'same' pads, along W (even) they are not
POOL2D = {
    "max-k3-s2-p1": L.MaxPool2D(3, 2, padding=1),  # the ResNet stem
    "max-k3-s1-p1": L.MaxPool2D(3, 1, padding=1),  # TF's 'same' pads at any size
    "max-k2-s1-p1": L.MaxPool2D(2, 1, padding=1),
    "max-k3-s1-p2": L.MaxPool2D(3, 1, padding=2),  # more than torch's padding= takes (k/2)
    "max-asym-s2": L.MaxPool2D(3, 2, padding=((2, 0), (1, 2))),
    "max-rect": L.MaxPool2D((2, 3), strides=(1, 2), padding=((1, 0), (1, 2))),
    "avg-k3-s2-p1": L.AvgPool2D(3, 2, padding=1),
    "avg-k3-s1-p2": L.AvgPool2D(3, 1, padding=2),
    "avg-asym-s2": L.AvgPool2D(3, 2, padding=((2, 0), (1, 2))),
    "avg-k3-s2-p1-exclude": L.AvgPool2D(3, 2, padding=1, count_include_pad=False),
    "avg-k3-s1-p1-exclude": L.AvgPool2D(3, 1, padding=1, count_include_pad=False),
    "avg-k3-s1-p2-exclude": L.AvgPool2D(3, 1, padding=2, count_include_pad=False),
    "avg-asym-s2-exclude": L.AvgPool2D(3, 2, padding=((2, 0), (1, 2)), count_include_pad=False),
}


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize("name", list(POOL2D))
def test_pool2d_pads(name, layout):
    check_layer(POOL2D[name], image(layout))


def _keras_source(layer, h, w):
    x = ir.Input(shape=(h, w, 3), layout="NHWC")
    return keras_source(ir.Model([x], layer(x)))


def test_pool2d_pads_same_everywhere():
    """k3 s2 p1 on odd sizes: TF's 'same' pads on both axes, so Keras pools with padding='same', nothing else."""
    for layer in (L.MaxPool2D(3, 2, padding=1), L.AvgPool2D(3, 2, padding=1, count_include_pad=False)):
        check_layer(layer, image("NCHW", h=9, w=11))
        source = _keras_source(layer, 9, 11)
        assert 'padding="same"' in source and "Padding2D" not in source and "Cropping" not in source
    assert "Cropping2D" in _keras_source(L.MaxPool2D(3, 2, padding=1), 9, 10)  # W even: edge replication
    assert "Rescaling" in _keras_source(L.AvgPool2D(3, 2, padding=1, count_include_pad=False), 9, 10)
    assert "Rescaling" not in _keras_source(L.AvgPool2D(3, 2, padding=1), 9, 10)  # zeros counted: no rescale


POOL1D = {
    "max-k3-s2-p1": L.MaxPool1D(3, 2, padding=1),
    "max-asym": L.MaxPool1D(4, 3, padding=(3, 2)),
    "avg-asym": L.AvgPool1D(3, 2, padding=(1, 2)),
    "avg-asym-exclude": L.AvgPool1D(3, 2, padding=(2, 1), count_include_pad=False),
    "avg-p1-exclude": L.AvgPool1D(3, 2, padding=1, count_include_pad=False),
}


@pytest.mark.parametrize("layout", ["NWC", "NCW"])
@pytest.mark.parametrize("name", list(POOL1D))
def test_pool1d_pads(name, layout):
    check_layer(POOL1D[name], signal(layout))


def _run_both(layer, a):
    x = ir.Input(shape=a.shape[1:], layout="NCHW")
    model = ir.Model([x], layer(x))
    got_torch = to_torch(model)(torch.tensor(a)).detach().numpy()
    got_keras = np.asarray(to_keras(model)(a))
    return got_torch, got_keras


@pytest.mark.parametrize("pads", [((1, 1), (1, 1)), ((2, 0), (1, 2))])
def test_max_pads_are_minus_inf(pads):
    """All-negative input: zero padding would put 0 on every border window; -inf padding keeps the real max."""
    a = -1.0 - np.abs(np.random.RandomState(1).randn(2, 3, 9, 10)).astype("float32")
    (top, bottom), (left, right) = pads
    ref = F.max_pool2d(F.pad(torch.tensor(a), (left, right, top, bottom), value=float("-inf")), 3, 2).numpy()
    zero_padded = F.max_pool2d(F.pad(torch.tensor(a), (left, right, top, bottom)), 3, 2).numpy()
    assert (zero_padded == 0).any() and (ref < 0).all()
    for got in _run_both(L.MaxPool2D(3, 2, padding=pads), a):
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("include", [True, False])
def test_avg_pads_count(include):
    """Padding zeros counted in the divisor (torch's default) or not, against sum / divisor computed apart."""
    a = np.random.RandomState(2).randn(2, 3, 9, 10).astype("float32")
    pads = (1, 2, 2, 0)  # torch order: W (left, right), then H (top, bottom)
    ones = F.pad(torch.ones_like(torch.tensor(a)), pads)
    total = F.avg_pool2d(F.pad(torch.tensor(a), pads), 3, 2, divisor_override=1)
    count = torch.full_like(total, 9.0) if include else F.avg_pool2d(ones, 3, 2, divisor_override=1)
    assert not include or (F.avg_pool2d(ones, 3, 2, divisor_override=1) < 9).any()
    for got in _run_both(L.AvgPool2D(3, 2, padding=((2, 0), (1, 2)), count_include_pad=include), a):
        np.testing.assert_allclose(got, (total / count).numpy(), rtol=1e-4, atol=1e-5)


def test_avg_exclude_unknown_size_in_torch():
    """torch counts real elements with a pooled ones map when the size is not known at lowering time."""
    x = ir.Input(shape=(3, None, None), layout="NCHW")
    model = ir.Model([x], L.AvgPool2D(3, 2, padding=((2, 0), (1, 2)), count_include_pad=False)(x))
    a = torch.tensor(np.random.RandomState(3).randn(1, 3, 7, 8).astype("float32"))
    pads = (1, 2, 2, 0)
    ref = F.avg_pool2d(F.pad(a, pads), 3, 2, divisor_override=1) / F.avg_pool2d(
        F.pad(torch.ones_like(a), pads), 3, 2, divisor_override=1
    )
    np.testing.assert_allclose(to_torch(model)(a).detach().numpy(), ref.numpy(), rtol=1e-4, atol=1e-5)


def test_same_stride1_unknown_size():
    """'same' with an even window pads (0, 1): the torch rescale must not need the size."""
    check_layer(L.AvgPool2D(2, 1, padding="same"), {"shape": (3, None, None), "layout": "NCHW"})


def test_stride1_same_like_pads_at_unknown_size():
    """Pads ((k-1)//2, k//2) with stride 1 are TF's 'same' pads at every size: Keras needs no size for them."""
    check_layer(L.MaxPool2D(3, 1, padding=1), {"shape": (3, None, None), "layout": "NCHW"})
    check_layer(L.AvgPool1D(2, 1, padding=(0, 1), count_include_pad=False), {"shape": (None, 3), "layout": "NWC"})


@known_gap("keras-pool-pads-unknown-size")
def test_pool_pads_unknown_size():
    check_layer(L.MaxPool2D(3, 2, padding=1), {"shape": (3, None, None), "layout": "NCHW"})


def test_pool_pads_unknown_size_is_refused_clearly():
    x = ir.Input(shape=(None, None, 3), layout="NHWC")
    for layer in (L.MaxPool2D(3, 2, padding=1), L.AvgPool2D(3, 2, padding=1, count_include_pad=False)):
        with pytest.raises(UnsupportedError, match="known input size"):
            to_keras(ir.Model([x], layer(x)))
    to_keras(ir.Model([x], L.AvgPool2D(3, 2, padding=1)(x)))  # zeros counted: ZeroPadding works at any size


def test_pads_config_is_canonical():
    assert L.MaxPool2D(3, 2, padding=1).padding == ((1, 1), (1, 1))
    assert L.MaxPool1D(3, padding=(1, 0)).padding == ((1, 0),)
    assert L.MaxPool2D(2, padding=0).padding == "valid"
    assert L.AvgPool2D(2, padding=((0, 0), (0, 0)), count_include_pad=False) == L.AvgPool2D(2)
    assert L.AvgPool2D(3, 2, padding="same", count_include_pad=False) == L.AvgPool2D(3, 2, padding="same")
    assert L.AvgPool2D(3, padding=1, count_include_pad=False).count_include_pad is False
    again = L.AvgPool2D(**L.AvgPool2D(3, padding=((1, 0), (2, 1)), count_include_pad=False).config())
    assert again.padding == ((1, 0), (2, 1)) and again.count_include_pad is False


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: L.MaxPool2D(3, padding=3), "smaller than pool_size"),
        (lambda: L.MaxPool2D((2, 3), padding=((0, 0), (0, 3))), "smaller than pool_size"),
        (lambda: L.AvgPool1D(2, padding=(0, 2)), "smaller than pool_size"),
        (lambda: L.MaxPool2D(3, padding=-1), "padding"),
        (lambda: L.MaxPool2D(3, padding="full"), "padding"),
        (lambda: L.MaxPool1D(3, padding=((1, 1), (1, 1))), "padding"),
        (lambda: L.AvgPool2D(3, padding=1, count_include_pad="yes"), "count_include_pad"),
    ],
)
def test_pads_errors(make, message):
    with pytest.raises(ConfigError, match=message) as info:
        make()
    assert "Pool" in str(info.value)


@pytest.mark.parametrize(
    "layer",
    [
        L.MaxPool2D(3, 2, padding="same"),
        L.AvgPool2D(3, 2, padding="same"),
        L.MaxPool2D((1, 2), (2, 3), padding="same"),
        L.AvgPool2D((1, 2), (2, 3), "same"),
        L.MaxPool1D(2, 3, padding="same"),
        L.AvgPool1D(2, 5, padding="same"),
    ],
    ids=["max-k3-s2", "avg-k3-s2", "max-k-below-s", "avg-k-below-s", "max1d-k2-s3", "avg1d-k2-s5"],
)
def test_same_strided_unknown_size_in_onnx(layer):
    """'same' with strides at sizes known only at run time, straight from the IR to ONNX, against Keras (torch
    refuses: its pads are fixed when the model is built). Lengths that are multiples of the stride make
    TF's pad (ceil(n/s) - 1) * s + k - n negative where the window is smaller than the stride: 0, as Keras pads."""
    from twinnet.exporters import verify

    rank = layer.rank
    x = ir.Input(shape=(None,) * rank + (3,), layout="NHWC" if rank == 2 else "NWC")
    report = verify(ir.Model([x], layer(x), name="same_unknown"), paths=("keras", "onnx-ir"), seq_lens=(5, 6, 9, 10))
    assert report.ok, report.table()
