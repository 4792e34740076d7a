"""Fixtures shared by the test modules.

The ``paper_results`` fixtures serve ``tests/test_paper_results*.py``. A paper's module names its
file of ``csr/resources/paper_results/`` in ``PAPER_RESULTS_FILE`` and asks for ``paper_json`` (the
whole file), ``fp`` (its ``from_paper`` key) or ``find_row`` (one row of a ``from_paper`` table);
``tests/test_paper_results.py`` overrides ``paper_json`` to run the same checks on every paper.
Fixtures rather than a helper module: a test module's imports depend on pytest's import mode,
fixtures do not.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest

PAPER_RESULTS_DIR = Path(__file__).resolve().parents[1] / "csr" / "resources" / "paper_results"


@pytest.fixture(scope="session")
def load_paper_results() -> Callable[[str], dict]:
    """``load_paper_results(file_name)``: one JSON of ``csr/resources/paper_results/``, freshly read."""
    def load(file_name: str) -> dict:
        return json.loads((PAPER_RESULTS_DIR / file_name).read_text(encoding="utf-8"))
    return load


@pytest.fixture(scope="module")
def paper_json(request, load_paper_results) -> dict:
    """The whole JSON named by the requesting module's ``PAPER_RESULTS_FILE``."""
    file_name = getattr(request.module, "PAPER_RESULTS_FILE", None)
    assert file_name, f"{request.module.__name__} sets no PAPER_RESULTS_FILE"
    return load_paper_results(file_name)


@pytest.fixture(scope="module")
def fp(paper_json) -> dict:
    """The paper's ``from_paper`` transcription."""
    return paper_json["from_paper"]


@pytest.fixture(scope="module")
def find_row(fp) -> Callable[..., dict]:
    """``find_row(table, **fields)``: the one row of ``fp["tables"][table]`` whose fields equal ``fields``."""
    def find(table: str, **fields) -> dict:
        rows = [r for r in fp["tables"][table]["rows"] if all(k in r and r[k] == v for k, v in fields.items())]
        assert len(rows) == 1, (table, fields, rows)
        return rows[0]
    return find
