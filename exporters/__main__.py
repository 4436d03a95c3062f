"""``python -m exporters ...`` runs the ``twinnet`` command line (see :mod:`exporters.cli`)."""
import sys

from .cli import main

sys.exit(main())
