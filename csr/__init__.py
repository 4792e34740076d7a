"""csr — cost-sensitive adversarial robustness.

Modules: :mod:`csr.costs` (cost matrices), :mod:`csr.data`, :mod:`csr.models`,
:mod:`csr.attacks`, :mod:`csr.metrics`, :mod:`csr.train`, :mod:`csr.plots`,
:mod:`csr.profiles` (notebook profiles and parameter checks).
"""
__version__ = "0.1.0"
