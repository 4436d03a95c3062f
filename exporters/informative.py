"""Could a comparison have seen a difference? How much each output varies with the input.

Two paths that agree on an output prove something only when that output depends on the input more
than the comparison's tolerance: an output that is the same for every input (a network whose signal
has died, ``keras.applications.MobileNetV2(weights=None)``), or one that a constant dominates, passes
whatever either path computes.

The rule, per path and output, over every sample the verifier ran (each item of every batch, at every
input size; samples are grouped by their shape, so each sequence length is judged on its own):

* the **spread** at each element is ``max - min`` over the samples;
* the **tolerance** there is what the comparison allows, ``atol + rtol * max|value|``;
* the **signal** is the largest ``spread / tolerance`` over the elements.

A comparison row (an output, a pair of paths, an input size) is **informative** when the signal of
both its paths reaches :data:`MIN_SIGNAL`: somewhere the output moves by at least ten times what the
comparison tolerates. With one sample (a batch of 1 and no other case of that shape) the spread is 0:
nothing can be concluded, and the row is uninformative.
"""

from __future__ import annotations

import numpy as np

#: how many tolerances an output must move by, somewhere, for a comparison of it to be informative
MIN_SIGNAL = 10.0
#: the result column of a row that passed without being able to fail: its output does not vary with the input
UNSEEN = "pass (uninformative)"


class Spread:
    """Running element-wise min, max and max magnitude per (path, output, sample shape)."""

    def __init__(self):
        self._seen: dict[tuple, list[np.ndarray]] = {}

    @staticmethod
    def samples(array: np.ndarray, layout: str) -> np.ndarray:
        """``array`` with its batch axis first (one sample per item), in float64."""
        x = np.asarray(array, np.float64)
        if "N" in layout and x.ndim == len(layout):
            return np.moveaxis(x, layout.index("N"), 0)
        return x[None]

    def add(self, path: str, output: str, array: np.ndarray, layout: str) -> tuple:
        """Take in one path's output for one case; returns the key its rows are judged under."""
        x = self.samples(array, layout)
        key = (path, output, x.shape[1:])
        # np.array: a 0-d array, not a numpy scalar, where each sample is one number (an output of layout N)
        low, high = np.array(x.min(axis=0, initial=np.inf)), np.array(x.max(axis=0, initial=-np.inf))
        size = np.array(np.abs(x).max(axis=0))
        seen = self._seen.get(key)
        if seen is None:
            self._seen[key] = [low, high, size]
        else:
            np.minimum(seen[0], low, out=seen[0])
            np.maximum(seen[1], high, out=seen[1])
            np.maximum(seen[2], size, out=seen[2])
        return key[2]

    def signal(self, path: str, output: str, shape: tuple, atol: float, rtol: float) -> float:
        """The largest spread over tolerance of ``output`` on ``path`` (0 when never seen or not finite)."""
        seen = self._seen.get((path, output, shape))
        if seen is None:
            return 0.0
        low, high, size = seen
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ratio = np.where(high > low, (high - low) / (atol + rtol * size), 0.0)  # inf where nothing is tolerated
        return float(np.nan_to_num(ratio, nan=0.0).max(initial=0.0))


def judge(rows, spread: Spread, atol: float, rtol: float) -> None:
    """Set ``signal`` and ``informative`` of each ``(row, first path, second path, shape)`` in ``rows``."""
    for row, p, q, shape in rows:
        row.signal = min(
            spread.signal(p, row.output, shape, atol, rtol), spread.signal(q, row.output, shape, atol, rtol)
        )
        row.informative = row.signal >= MIN_SIGNAL


def uninformative_outputs(rows) -> list[str]:
    """The outputs no set of weights checks informatively: for each weights set ("real", "randomized"), some
    row of the output is uninformative. In the order the outputs first appear."""
    outputs = list(dict.fromkeys(r.output for r in rows))
    covered = set()
    for weights in dict.fromkeys(r.weights for r in rows):
        for output in outputs:
            mine = [r for r in rows if r.weights == weights and r.output == output]
            if mine and all(r.informative for r in mine):
                covered.add(output)
    return [o for o in outputs if o not in covered]
