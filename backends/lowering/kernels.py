"""Framework-free convolution arithmetic the channels-first backends (torch, ONNX) share.

* :func:`channels_first_kernel`: a Keras kernel ``(k..., a, b)`` as
  ``(b, a, k...)``; Conv's ``(k..., in/groups, out)`` becomes torch's and
  ONNX's ``(out, in/groups, k...)``, a transposed conv's ``(k..., out, in)``
  becomes their ``(in, out, k...)`` (no spatial flip in any of them).
* :func:`depthwise_weight`: a Keras depthwise kernel ``(k..., C, M)`` as the
  grouped conv weight ``(C*M, 1, k...)`` (docs/equivalence.md, section 4).
"""

from __future__ import annotations

import numpy as np


def channels_first_kernel(kernel: np.ndarray) -> np.ndarray:
    """Keras ``(k..., a, b)`` -> ``(b, a, k...)``."""
    nd = kernel.ndim - 2
    return kernel.transpose(nd + 1, nd, *range(nd))


def depthwise_weight(kernel: np.ndarray) -> np.ndarray:
    """Keras ``(k..., C, M)`` -> ``(C*M, 1, k...)``; output channel c*M + m in both."""
    nd = kernel.ndim - 2
    flat = kernel.reshape(*kernel.shape[:nd], -1)
    return flat.transpose(nd, *range(nd))[:, None]
