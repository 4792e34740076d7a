"""csr — cost-sensitive adversarial robustness.

Modules: :mod:`csr.costs` (cost matrices), :mod:`csr.data`, :mod:`csr.models`,
:mod:`csr.attacks`, :mod:`csr.metrics`, :mod:`csr.certify`, :mod:`csr.train`, :mod:`csr.evaluate`,
:mod:`csr.store` (atomic writes), :mod:`csr.plots` — the engines, which know no paper —
and above them :mod:`csr.studies` (one module per paper) and :mod:`csr.profiles` (notebook set-up).
"""
__version__ = "0.1.0"
