"""The quickstart notebook's profiles: standard vs PGD training and a cost-sensitive report
(no paper).

Example
-------
>>> Quickstart.settings("cpu")["epochs"]
12
"""
from __future__ import annotations

from typing import Any, Sequence

from .base import Study, headline

__all__ = ["Quickstart"]


class Quickstart(Study):
    """Profiles and schema of ``notebooks/quickstart.ipynb``."""

    name = "quickstart"
    title = "Quickstart"
    types = {"train_steps": (int,), "eval_steps": (int,), "eval_restarts": (int,), "eps_warmup_epochs": (int,)}
    profiles = {
        "smoke": dict(dataset="mnist5k", model="mnist_small", epochs=3, n_train=1500, n_eval=200,
                      train_steps=5, eval_steps=10, eval_restarts=1, batch_size=50, lr=1e-3,
                      eps_warmup_epochs=1, threads=2),
        "cpu": dict(dataset="mnist5k", model="mnist_small", epochs=12, n_train=None, n_eval=None,
                    train_steps=10, eval_steps=20, eval_restarts=1, batch_size=50, lr=1e-3,
                    eps_warmup_epochs=4, threads=2),
        "gpu": dict(dataset="mnist", model="mnist_small", epochs=20, n_train=None, n_eval=None,
                    train_steps=40, eval_steps=50, eval_restarts=2, batch_size=50, lr=1e-3,
                    eps_warmup_epochs=5, threads=None),
    }

    @headline
    def table(self, reports: dict[str, Any], columns: Sequence[str]) -> Any:
        """The headline table: one column per model (``reports``: name → :class:`~csr.evaluate.Report`),
        one row per metric of ``columns`` (also written to :meth:`results_folder`)."""
        from ..evaluate import reports_table

        return reports_table(reports, list(columns))
