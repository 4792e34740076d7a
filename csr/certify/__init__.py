"""Certified robustness: convex-relaxation and interval bounds on pairwise logit margins.

See :mod:`csr.certify.convex` for the methods (``wk``, ``wk_proj``, ``ibp``, ``crown_ibp``).

>>> from csr.certify import BOUND_METHODS
>>> BOUND_METHODS.names()
['crown_ibp', 'ibp', 'wk', 'wk_proj']
"""
from csr.certify.convex import (
    BOUND_METHODS,
    NORMS,
    BoundMethod,
    bounds,
    certify,
    count_spec_columns,
    intermediate_bounds,
    last_bound_stats,
    spec_mask,
)

__all__ = [
    "BOUND_METHODS",
    "NORMS",
    "BoundMethod",
    "bounds",
    "certify",
    "count_spec_columns",
    "intermediate_bounds",
    "last_bound_stats",
    "spec_mask",
]
