"""Feeding :mod:`twinnet.ir.training.data` batches to Keras's ``fit`` through a ``keras.utils.PyDataset``."""

from __future__ import annotations

import keras

from ....ir.training.data import as_batches


class SpecDataset(keras.utils.PyDataset):
    """Epoch ``e``'s batches in twinnet's seeded order (the same as torch's); the epoch advances as each epoch begins.

    Call ``fit(dataset, shuffle=False)``: with Keras's default ``shuffle=True``, ``fit`` also reorders a
    PyDataset's batches with Python's unseeded ``random.shuffle``, and the order is no longer torch's.
    """

    def __init__(self, batches):
        super().__init__()
        self.batches = batches
        self.epoch = -1  # on_epoch_begin makes it 0; Keras reads a batch or two before, to learn their shapes

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, i):
        return self.batches.batch(max(self.epoch, 0), i)

    def on_epoch_begin(self):
        # Not on_epoch_end: Keras also calls that once after its first look at the batches, before epoch 0.
        self.epoch += 1


def as_dataset(data, spec) -> SpecDataset:
    """``(x, y)`` arrays, a ``Batches``/``FixedBatches`` or an iterable of ``(x, y)`` batches as a PyDataset."""
    return SpecDataset(as_batches(data, spec))
