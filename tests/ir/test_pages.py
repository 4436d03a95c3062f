"""``ir/pages.py``: the pages of a memory-mapped weight are let go once used, and the array still reads the
same; arrays that are not read-only views of a read-only map are left alone."""

import mmap

import numpy as np
from pages_check import linux_only, resident_file_kib

from twinnet import ir
from twinnet.ir.pages import release_pages


def _saved(tmp_path, size):
    rng = np.random.default_rng(0)
    model = ir.Sequential([ir.layers.Dense(size)], input=ir.Input((size,)), name="paged").initialize(0)
    model.set_weights({k: rng.standard_normal(v.shape).astype(np.float32) for k, v in model.weights.items()})
    ir.save(model, tmp_path / "paged.json")
    return model, ir.load(tmp_path / "paged.json")


@linux_only
def test_released_pages_leave_the_process_and_the_values_stay(tmp_path):
    original, loaded = _saved(tmp_path, 1024)  # a 4 MiB kernel
    kernel = next(w for w in loaded.weights.values() if w.ndim == 2)
    before = resident_file_kib()
    total = float(kernel.sum(dtype=np.float64))  # reads every page
    touched = resident_file_kib()
    assert touched - before > 3000, (before, touched)
    assert release_pages(loaded.weights.values()) >= kernel.nbytes
    assert resident_file_kib() < touched - 3000
    assert float(kernel.sum(dtype=np.float64)) == total  # read back from the file, unchanged
    for name, array in original.weights.items():
        np.testing.assert_array_equal(loaded.weights[name], array)


def test_arrays_that_are_not_read_only_maps_are_left_alone(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(np.arange(4096, dtype=np.float32).tobytes())
    with open(path, "r+b") as f:
        writable = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    changed = np.frombuffer(writable, dtype=np.float32)
    changed[0] = -1.0  # a copy-on-write change the kernel must not drop
    readonly_view_of_it = changed[:]
    readonly_view_of_it.flags.writeable = False
    own = np.ones(4096, np.float32)
    own.flags.writeable = False
    assert release_pages([changed, readonly_view_of_it, own, np.zeros(0, np.float32)]) == 0
    assert changed[0] == -1.0
    del changed, readonly_view_of_it
    writable.close()


@linux_only
def test_a_written_memory_mapped_model_is_not_left_resident(tmp_path):
    """``ir.save`` of a loaded model reads each weight once to write it, then lets its pages go."""
    _, loaded = _saved(tmp_path, 1024)
    before = resident_file_kib()
    ir.save(loaded, tmp_path / "again.json")
    assert resident_file_kib() - before < 2000  # the 4 MiB kernel was read, written and let go
    again = ir.load(tmp_path / "again.json")
    for name, array in loaded.weights.items():
        np.testing.assert_array_equal(again.weights[name], array)
