"""Test set-up: quiet TensorFlow, and the shared helpers in this folder importable from every test folder."""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Test modules are imported with --import-mode=importlib (pyproject.toml), so
# files in different folders may share a base name; the helpers beside this
# file (layer_check, gaps, ...) are put on the path once, here.
sys.path.insert(0, str(Path(__file__).resolve().parent))
