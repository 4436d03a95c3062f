"""Letting go of the pages of memory-mapped weights once they have been read.

:func:`twinnet.load` gives weights as read-only views of a memory map of their file: nothing is read until
used. But a page, once read, stays resident in the process (and counts in its resident memory) for as long
as the map lives, which is as long as the model does. When a compiler has copied a tensor into a framework,
or a writer has written it to another file, the process need not keep those pages: :func:`release_pages`
tells the kernel so (``madvise(MADV_DONTNEED)``). The data stays in the file (and in the page cache, which
is not the process's memory); reading the array again reads it back from there, unchanged.

Only arrays that are read-only views of a read-only map are touched; anything else (an array in the
process's own memory, a writable or copy-on-write map, a platform without ``madvise``) is left alone.

>>> import numpy as np
>>> release_pages([np.zeros(3)])  # not memory-mapped: nothing to do
0
"""

from __future__ import annotations

import mmap
from typing import Iterable

import numpy as np

try:
    from numpy.lib.array_utils import byte_bounds
except ImportError:  # numpy < 2
    byte_bounds = np.byte_bounds

_DONTNEED = getattr(mmap, "MADV_DONTNEED", None)


def _read_only_map(array: np.ndarray):
    """The read-only ``mmap`` object ``array`` is a view of, or None."""
    if not isinstance(array, np.ndarray) or array.flags.writeable:
        return None
    base = array
    while base is not None and not isinstance(base, mmap.mmap):
        base = base.obj if isinstance(base, memoryview) else getattr(base, "base", None)
    if base is None or base.closed or not memoryview(base).readonly:
        return None
    return base


def release_pages(arrays: Iterable[np.ndarray]) -> int:
    """Drop the resident pages under each of ``arrays`` that is a read-only view of a read-only memory map;
    returns the bytes of the address ranges released (whole pages, so a neighbour's edge may go too: it is
    read back from the file when next used)."""
    if _DONTNEED is None:
        return 0
    released = 0
    for array in arrays:
        mapped = _read_only_map(array)
        if mapped is None or array.size == 0:
            continue
        view = np.frombuffer(mapped, dtype=np.uint8)
        origin = view.ctypes.data
        low, high = byte_bounds(array)
        del view  # the map cannot be closed while a buffer of it is exported
        start = (low - origin) // mmap.PAGESIZE * mmap.PAGESIZE
        end = min(len(mapped), -(-(high - origin) // mmap.PAGESIZE) * mmap.PAGESIZE)
        if 0 <= start < end:
            mapped.madvise(_DONTNEED, start, end - start)
            released += end - start
    return released
