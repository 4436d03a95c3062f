"""Feeding :mod:`twinnet.ir.training.data` batches to torch through a ``torch.utils.data.DataLoader``."""

from __future__ import annotations

import torch

from ....ir.training.data import as_batches


class EpochBatches(torch.utils.data.Dataset):
    """Item ``i`` is batch ``i`` of epoch :attr:`epoch` in twinnet's seeded order (the same as Keras's)."""

    def __init__(self, batches):
        self.batches = batches
        self.epoch = 0

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, i):
        return self.batches.batch(self.epoch, i)


def as_loader(data, spec) -> torch.utils.data.DataLoader:
    """``(x, y)`` arrays, a ``Batches``/``FixedBatches`` or an iterable of ``(x, y)`` batches as a DataLoader.

    The batches are made by twinnet (``batch_size=None``: the loader neither
    batches nor shuffles); set ``loader.dataset.epoch`` before each epoch.
    """
    return torch.utils.data.DataLoader(EpochBatches(as_batches(data, spec)), batch_size=None, shuffle=False)
