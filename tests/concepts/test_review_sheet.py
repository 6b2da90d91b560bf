"""tools/concepts/review_sheet.py: one row per concept, every item counted, the reviewer's columns empty."""

import csv
import json

from concept_tools import tool_module

from medmap.concepts import load_builtin


def _sheet():
    return tool_module("review_sheet")


def _read(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_a_sheet_has_one_row_per_concept_and_counts_every_item(tmp_path):
    sheet = _sheet()
    assert sheet.main(["--out-dir", str(tmp_path), "--domains", "drugs,dosage"]) == 0
    for domain in ("drugs", "dosage"):
        cs = load_builtin(domain)
        rows = _read(tmp_path / f"{domain}.csv")
        assert [r["concept"] for r in rows] == list(dict.fromkeys(it.concept for it in cs.items))
        assert sum(int(r["items"]) for r in rows) == len(cs.items)
        assert all(r[c] == "" for r in rows for c in sheet.REVIEWER_COLUMNS)
    metoprolol = next(r for r in _read(tmp_path / "drugs.csv") if r["concept"] == "metoprolol")
    assert metoprolol["mechanism"] == "beta blocker" and metoprolol["specialty"] == "cardiology"


def test_values_that_differ_within_a_concept_are_all_shown(tmp_path):
    """A planted concept whose templates disagree on a label and give two answers."""
    items = [
        {"id": "x-a", "domain": "x", "prompt": "Drug: A.", "labels": {"cls": "c1", "stem": True}, "concept": "A",
         "template": "neutral", "source": "s"},
        {"id": "x-a-t0", "domain": "x", "prompt": "A is a", "labels": {"cls": "c1", "stem": False}, "concept": "A",
         "template": "t0", "answer": " c1 drug", "source": "s"},
        {"id": "x-a-t1", "domain": "x", "prompt": "A treats", "labels": {"cls": "c1", "stem": False}, "concept": "A",
         "template": "t1", "answer": " pain", "source": "s"},
        {"id": "x-b", "domain": "x", "prompt": "Drug: B.", "labels": {"cls": "c2", "stem": True}, "concept": "B",
         "template": "neutral", "source": "t"},
    ]
    (tmp_path / "x.jsonl").write_text("".join(json.dumps(it) + "\n" for it in items))
    rows = _read(_sheet().write_sheet("x", tmp_path / "out", data_dir=tmp_path))
    assert [(r["concept"], r["cls"], r["stem"], r["answers"], r["items"]) for r in rows] == [
        ("A", "c1", "True | False", "c1 drug | pain", "3"), ("B", "c2", "True", "", "1")]


def test_an_unknown_domain_is_a_one_line_error(tmp_path, capsys):
    assert _sheet().main(["--out-dir", str(tmp_path), "--domains", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --domains: no shipped set named nope") and "\n" not in err
