"""The checks every paper's ``from_paper`` transcription in ``csr/resources/paper_results/`` passes.

The top-level keys written before ``from_paper`` are kept; ``from_paper`` has its sections; every
table has its title, dataset, unit, columns, rows and notes, every row names itself in the fields the
table declares and holds every column, and a cell is null or a finite number unless the paper prints
text there (below, per paper). What is particular to one paper (table shapes, cells read off the
paper, settings, contradictions) is in ``test_paper_results_<paper>.py``; the fixtures are in
``conftest.py``.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import pytest

SECTIONS = ("source", "tables", "figures", "settings", "not_stated", "claims", "contradictions", "equations")
TABLE_KEYS = ("title", "dataset", "unit", "columns", "rows", "notes")
# the keys that name a table's row-label fields, by the conventions of the five files
LABEL_KEYS = ("row_label_fields", "row_labels", "label_columns")


@dataclass(frozen=True)
class Paper:
    file: str  # in csr/resources/paper_results/
    text: str  # the paper's text in shared/papers/, named by from_paper.source
    old_keys: frozenset  # the top-level keys besides from_paper (notes on the code, settings the chapters use)
    text_columns: frozenset = frozenset()  # columns of nonempty strings (besides declared row labels)
    dash_columns: frozenset = frozenset()  # columns where the printed "-" stands as a string
    list_columns: frozenset = frozenset()  # columns whose cells are lists of numbers
    extra_row_fields: frozenset = frozenset()  # optional row fields, neither columns nor labels


PAPERS = {
    "zhang_evans": Paper(
        file="zhang_evans_2019.json",
        text="000_b39852d034aca0bc.txt",
        old_keys=frozenset({"paper", "source", "version_caveat", "units_note", "settings", "table1", "table1_caption",
                            "table2", "table2_caption", "table3", "table3_caption", "record"}),
        text_columns=frozenset({"sparsity"}),  # printed as a fraction such as "1/90"
    ),
    "cs_smoothing": Paper(
        file="cs_randomized_smoothing.json",
        text="002_e0366031667ef24d.txt",
        old_keys=frozenset({"paper", "source", "notes_details", "settings", "definitions_from_code", "record"}),
        text_columns=frozenset({"Dataset", "Type", "Method", "Methods"}),  # label columns, not declared in the file
        extra_row_fields=frozenset({"bold", "note"}),  # the bold columns of a row; Table 5's note
    ),
    "shen": Paper(
        file="shen_cost_sensitive_classes.json",
        text="001_eccfa7c491e08f8d.txt",
        old_keys=frozenset({"paper", "fuzziness", "code", "code_example_notebook", "record"}),
        list_columns=frozenset({"mu", "sigma"}),  # Table I: one value per channel
    ),
    "zeng": Paper(
        file="zeng_weighted_minimax.json",
        text="004_e91feeedc2f22991.txt",
        old_keys=frozenset({"paper", "abstract_claims", "code", "record"}),
        dash_columns=frozenset({"alpha_train", "alpha_test", "1/lambda"}),
    ),
    "terzi": Paper(
        file="terzi_wpgd.json",
        text="003_78a4d8973adcfbb7.txt",
        old_keys=frozenset({"paper", "claims", "record"}),
        text_columns=frozenset({"dataset"}),  # Table 3's dataset column
    ),
}


@pytest.fixture(scope="module", params=sorted(PAPERS))
def paper(request) -> Paper:
    return PAPERS[request.param]


@pytest.fixture(scope="module")
def paper_json(paper, load_paper_results) -> dict:
    """Overrides conftest's: the JSON of the paper this test runs for."""
    return load_paper_results(paper.file)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_text(v) -> bool:
    return isinstance(v, str) and bool(v)


def _label_fields(table: dict) -> list:
    for key in LABEL_KEYS:
        if key in table:
            return table[key]
    return [table["row_label_field"]] if "row_label_field" in table else []


def test_keys_and_no_placeholders(paper, paper_json, load_paper_results):
    """The full papers are at hand: no placeholder claims a table or setting was not retrieved."""
    assert set(paper_json) == paper.old_keys | {"from_paper"}
    text = json.dumps(paper_json).lower()
    for phrase in ("not retrieved", "could not be retrieved", "could not be read"):
        assert phrase not in text, phrase


def test_top_level_sections(paper, fp):
    for key in SECTIONS:
        assert key in fp and fp[key], key
    assert isinstance(fp["not_stated"], list)
    assert isinstance(fp["contradictions"], list)
    source = fp["source"]
    assert paper.text in (source["file"] if isinstance(source, dict) else source)


def test_table_schema(paper, fp):
    for name, t in fp["tables"].items():
        for key in TABLE_KEYS:
            assert key in t, (name, key)
        assert _is_text(t["title"]), name
        assert isinstance(t["columns"], list) and t["columns"], name
        assert len(set(t["columns"])) == len(t["columns"]), name
        labels = _label_fields(t)
        for row in t["rows"]:
            fields = set(t["columns"]) | set(labels)
            assert fields <= set(row) <= fields | paper.extra_row_fields, (name, row)
            for field in labels:
                assert _is_text(row[field]), (name, field, row)
            for col in t["columns"]:
                v = row[col]
                if col in labels or col in paper.text_columns:
                    assert _is_text(v), (name, col, row)
                elif col in paper.list_columns:
                    assert v is None or (isinstance(v, list) and v and all(_is_number(x) for x in v)), (name, col, v)
                else:
                    assert v is None or _is_number(v) or (v == "-" and col in paper.dash_columns), (name, col, v)
