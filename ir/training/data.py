"""Batches for training, framework-free: the same samples in the same order for Keras and torch.

:class:`Batches` holds numpy arrays and hands out epoch ``e``'s batch ``i``;
the order of an epoch is a permutation drawn from ``numpy.random.default_rng((seed, e))``,
so it depends on the seed and the epoch number only, never on which framework
asks. ``twinnet.backends.keras.training`` wraps it in a ``keras.utils.PyDataset``,
``twinnet.backends.torch.training`` in a ``torch.utils.data.DataLoader``.

>>> import numpy as np
>>> b = Batches(np.arange(10.0), np.arange(10), batch_size=4, seed=1)
>>> len(b), [len(x) for x, _ in b.epoch(0)]
(3, [4, 4, 2])
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .checks import flag, integer


def _arrays(value, what: str) -> tuple[np.ndarray, ...]:
    items = value if isinstance(value, (list, tuple)) else (value,)
    arrays = tuple(np.asarray(a) for a in items)
    if not arrays or any(a.ndim == 0 for a in arrays):
        raise ConfigError(f"training data: {what} must be an array (or a list of arrays) with a sample axis")
    return arrays


class Batches:
    """Samples ``x`` (an array or a list of arrays, one per model input) and targets ``y``, cut into batches.

    Args:
        x, y: arrays whose first axis is the sample; all of the same length.
        batch_size: samples per batch; the last batch may be smaller.
        shuffle: draw a new order every epoch (seeded); else the stored order.
        seed: the seed of the orders.
    """

    def __init__(self, x, y, *, batch_size: int = 32, shuffle: bool = True, seed: int = 0):
        self.x, self.y = _arrays(x, "x"), _arrays(y, "y")
        sizes = {len(a) for a in self.x + self.y}
        if len(sizes) != 1:
            raise ConfigError(
                f"training data: x and y must have the same number of samples, got lengths {sorted(sizes)}"
            )
        self.size = sizes.pop()
        if self.size == 0:
            raise ConfigError("training data: no samples")
        self.batch_size = integer("training data", "batch_size", batch_size)
        self.shuffle = flag("training data", "shuffle", shuffle)
        self.seed = integer("training data", "seed", seed, low=0)
        self.single_input = not isinstance(x, (list, tuple))
        self.single_target = not isinstance(y, (list, tuple))

    def __len__(self) -> int:
        return -(-self.size // self.batch_size)

    def order(self, epoch: int) -> np.ndarray:
        """The sample indices of ``epoch`` in the order they are fed."""
        if not self.shuffle:
            return np.arange(self.size)
        return np.random.default_rng((self.seed, epoch)).permutation(self.size)

    def batch(self, epoch: int, i: int) -> tuple:
        """Batch ``i`` of ``epoch`` as ``(x, y)``, each an array (or a tuple, as given)."""
        if not 0 <= i < len(self):
            raise IndexError(f"batch {i} of {len(self)}")
        take = self.order(epoch)[i * self.batch_size : (i + 1) * self.batch_size]
        xs = tuple(a[take] for a in self.x)
        ys = tuple(a[take] for a in self.y)
        return (xs[0] if self.single_input else xs), (ys[0] if self.single_target else ys)

    def epoch(self, epoch: int):
        """Every batch of ``epoch``, in order."""
        return (self.batch(epoch, i) for i in range(len(self)))


class FixedBatches:
    """Batches a user made, from any re-iterable of ``(x, y)`` pairs of arrays: fed as they come, never shuffled.

    The batches are read once and kept, so every epoch (and both frameworks) sees the same ones.
    """

    def __init__(self, batches):
        self.batches = [self._pair(b, i) for i, b in enumerate(batches)]
        if not self.batches:
            raise ConfigError("training data: the iterable gave no batches")

    @staticmethod
    def _pair(item, i):
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise ConfigError(f"training data: batch {i} must be an (x, y) pair, got {type(item).__name__}")
        return item[0], item[1]

    def __len__(self) -> int:
        return len(self.batches)

    def batch(self, epoch: int, i: int) -> tuple:
        return self.batches[i]

    def epoch(self, epoch: int):
        return iter(self.batches)


def as_batches(data, spec) -> Batches | FixedBatches:
    """``(x, y)`` arrays become :class:`Batches` with the spec's batch size, shuffle and seed;
    a :class:`Batches` or :class:`FixedBatches` stays; any other iterable of ``(x, y)`` batches is read once."""
    if isinstance(data, (Batches, FixedBatches)):
        return data
    if isinstance(data, tuple) and len(data) == 2 and all(isinstance(part, (np.ndarray, list)) for part in data):
        return Batches(*data, batch_size=spec.batch_size, shuffle=spec.shuffle, seed=spec.seed)
    if not hasattr(data, "__iter__"):
        raise ConfigError(
            f"training data: expected (x, y) arrays or an iterable of (x, y) batches, got {type(data).__name__}"
        )
    return FixedBatches(data)
