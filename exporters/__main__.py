"""``python -m twinnet.exporters ...`` runs the ``twinnet`` command line (see :mod:`twinnet.exporters.cli`)."""

import sys

from .cli import main

sys.exit(main())
