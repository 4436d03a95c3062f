"""``python -m twinnet.exporters ...`` runs the ``twinnet`` command line (see :mod:`twinnet.exporters.cli`)."""

import sys

from .process import command

sys.exit(command())
