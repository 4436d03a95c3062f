"""The tolerances ``verify`` and ``convert`` use, one pair per precision of the model.

A comparison passes when ``|a - b| <= atol' + rtol * max(|a|, |b|)`` everywhere, where ``atol'`` is
``atol`` for a float32 model and ``atol * peak`` for a half-precision one, ``peak`` being the largest
magnitude either side reaches on that output (so a half model's absolute tolerance follows the size of
its outputs, as its rounding does).

| precision | unit roundoff u | atol | rtol | atol is |
|---|---|---|---|---|
| float32 | 2^-24 = 6.0e-8 | 1e-5 | 1e-4 | absolute |
| float16 | 2^-11 = 4.9e-4 | 1e-2 (about 20 u) | 1e-2 | relative to the output's peak |
| bfloat16 | 2^-8 = 3.9e-3 | 8e-2 (about 20 u) | 8e-2 | relative to the output's peak |

Two half-precision runs of one network round at different points (one framework accumulates a
convolution in float32 and rounds once, another rounds a fused bias separately), so they differ by a
few units of roundoff of the output's magnitude, growing with depth; 20 u leaves room for that and
still catches a wrong epsilon, a dropped bias or a missing cast, which move outputs by far more. The
half paths are also compared with the float32 ONNX path run on the same rounded weights and inputs,
and that path's own comparisons with other float32 paths keep the float32 tolerances: the conversion
is checked at full strictness, the precision at these. Measured figures are in docs/precision.md.

>>> tolerances("bfloat16")
Tolerance(atol=0.08, rtol=0.08, scaled=True)
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir.precision import check_precision


@dataclass(frozen=True)
class Tolerance:
    atol: float
    rtol: float
    #: atol is relative to the output's peak magnitude (half precision) rather than absolute
    scaled: bool = False


#: precision -> its default tolerances
TOLERANCES = {
    "float32": Tolerance(1e-5, 1e-4),
    "float16": Tolerance(1e-2, 1e-2, scaled=True),
    "bfloat16": Tolerance(8e-2, 8e-2, scaled=True),
}


def tolerances(dtype: str) -> Tolerance:
    """The default tolerances for a model of precision ``dtype``."""
    return TOLERANCES[check_precision(dtype)]
