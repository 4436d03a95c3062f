"""Import TensorFlow with its C++ start-up lines kept off the terminal.

TensorFlow 2.21 writes "All log messages before absl::InitializeLog() ..." and
a oneDNN notice straight to file descriptor 2 while it loads, before
``TF_CPP_MIN_LOG_LEVEL`` is read, so neither the environment variable nor
Python's ``sys.stderr`` can silence them. The CLI imports TensorFlow once, up
front, with descriptor 2 pointed at a temporary file; if the import fails, the
captured text is written out, since then it is the explanation.

>>> with_quiet_tensorflow()  # doctest: +SKIP
"""
from __future__ import annotations

import os
import sys
import tempfile


def with_quiet_tensorflow() -> None:
    """Import ``tensorflow`` (if installed and not yet imported) without its start-up chatter on stderr."""
    if "tensorflow" in sys.modules:
        return
    import importlib.util

    if importlib.util.find_spec("tensorflow") is None:  # a torch-only install: the commands say what is missing
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
