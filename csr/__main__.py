"""``python -m csr``: the ``csr`` command (:mod:`csr.cli`)."""
import sys

from .cli import main

sys.exit(main())
