"""``python -m csr``: the ``csr`` command (:mod:`csr.cli`)."""
import sys

from .cli import main

if __name__ == "__main__":  # importing csr.__main__ (pkgutil, doctest collection) runs nothing
    sys.exit(main())
