"""Feeding :mod:`twinnet.ir.training.data` batches to Keras's ``fit`` through a ``keras.utils.PyDataset``."""

from __future__ import annotations

import keras

from ....ir.training.data import as_batches


class SpecDataset(keras.utils.PyDataset):
    """Epoch ``e``'s batches in twinnet's seeded order (the same as torch's); the epoch advances at each epoch's end."""

    def __init__(self, batches):
        super().__init__()
        self.batches = batches
        self.epoch = 0

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, i):
        return self.batches.batch(self.epoch, i)

    def on_epoch_end(self):
        self.epoch += 1


def as_dataset(data, spec) -> SpecDataset:
    """``(x, y)`` arrays, a ``Batches``/``FixedBatches`` or an iterable of ``(x, y)`` batches as a PyDataset."""
    return SpecDataset(as_batches(data, spec))
