"""All IR layer kinds. ``from twinnet import layers as L; L.Conv2D(32, 3)``."""

from .activation import ACTIVATIONS, Activation, ReLU
from .attention import MultiHeadAttention
from .base import LAYERS, Layer, WeightSpec, register
from .constant import LearnedConstant
from .conv import Conv1D, Conv2D, Conv3D
from .conv_variants import (
    CONVOLUTIONS,
    Conv1DTranspose,
    Conv2DTranspose,
    DepthwiseConv1D,
    DepthwiseConv2D,
    SeparableConv1D,
    SeparableConv2D,
)
from .core import Dense, Dropout, Flatten, Identity, Permute, Reshape
from .merge import Add, Average, Concatenate, Dot, Maximum, Multiply, Subtract
from .norm import BatchNorm, GroupNorm, LayerNorm
from .pooling import (
    AvgPool1D,
    AvgPool2D,
    GlobalAvgPool1D,
    GlobalAvgPool2D,
    GlobalMaxPool1D,
    GlobalMaxPool2D,
    MaxPool1D,
    MaxPool2D,
)
from .preprocessing import Normalization, Rescaling
from .recurrent import GRU, LSTM, Bidirectional, Embedding, SimpleRNN
from .slicing import Slice
from .spatial import Cropping1D, Cropping2D, UpSampling1D, UpSampling2D, ZeroPadding1D, ZeroPadding2D

__all__ = sorted(LAYERS) + ["LAYERS", "Layer", "WeightSpec", "register", "ACTIVATIONS", "CONVOLUTIONS"]
