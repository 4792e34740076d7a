"""Paper protocols: one module per paper on one :class:`~csr.studies.base.Study` base.

Engines (``attacks``, ``certify``, ``train``, ``metrics``, ``evaluate``) never import this
package. A study declares its profiles, parameter schema, tasks and the paper's labels for them,
and its paper-results file; :func:`csr.profiles.setup` finds it by name in :data:`STUDIES`.
Adding a paper: one module here (registered below) plus one notebook.

>>> STUDIES.names()
['cs_randomized_smoothing', 'quickstart', 'shen_cost_sensitive_classes', 'terzi_wpgd', 'your_cost_matrix', 'zeng_weighted_minimax', 'zhang_evans_2019']
"""
from __future__ import annotations

from ..registry import Registry
from .base import COMMON_TYPES, ParameterError, Study, check_numbers, check_type, headline
from .cs_randomized_smoothing import SmoothingStudy
from .empirical import EmpiricalStudy
from .quickstart import Quickstart
from .shen_cost_sensitive_classes import Shen
from .terzi_wpgd import Terzi
from .your_cost_matrix import YourCostMatrix
from .zeng_weighted_minimax import Zeng
from .zhang_evans_2019 import ZhangEvans

__all__ = ["STUDIES", "Study", "EmpiricalStudy", "ParameterError", "COMMON_TYPES", "check_type", "check_numbers",
           "headline",
           "Quickstart", "ZhangEvans", "SmoothingStudy", "Shen", "Zeng", "Terzi", "YourCostMatrix"]

STUDIES: Registry[type[Study]] = Registry("study", "studies")
for _cls in (Quickstart, ZhangEvans, SmoothingStudy, Shen, Zeng, Terzi, YourCostMatrix):
    STUDIES.register(_cls.name, _cls)
