import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from medmap.concepts import (available_builtin, default_domains, load_builtin, load_file, parse_jsonl, to_jsonl,
                             validate_sets)
from medmap.errors import ConceptError

GOOD = {"id": "a1", "domain": "symptoms", "prompt": "Chest pain concerns the", "labels": {"category": "cardio"},
        "answer": " heart"}


def _write(tmp_path, rows):
    p = tmp_path / "set.jsonl"
    p.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return p


def test_builtin_sets_load_and_roundtrip(tmp_path):
    assert available_builtin() == list(default_domains())  # the reference set is shipped but not a default domain
    for d in available_builtin() + ["reference"]:
        cs = load_builtin(d)
        assert len(cs) > 0 and all(it.domain == d for it in cs.items)
        p = tmp_path / f"{d}.jsonl"
        p.write_text(to_jsonl(cs))
        again = load_file(p)[0]
        assert again.hash == cs.hash
    validate_sets([load_builtin(d) for d in available_builtin() + ["reference"]])


def test_age_set_shape():
    cs = load_builtin("age")
    ages = {it.labels["age"] for it in cs.items}
    assert ages == set(range(101))
    assert {it.labels["gender"] for it in cs.items} == {"male", "female"}
    assert len({it.template for it in cs.items}) >= 3
    assert len(cs.pairs) >= 32


@pytest.mark.parametrize("row, where", [
    ({**GOOD, "domain": "../cardiology"}, "field 'domain'"),
    ({k: v for k, v in GOOD.items() if k != "prompt"}, "field 'prompt'"),
    ({**GOOD, "labels": "cardio"}, "field 'labels'"),
    ({**GOOD, "span": "not there"}, "span"),
    ({**GOOD, "extra": 1}, "field 'extra'"),
    ('{"id": "x", ', "not valid JSON"),
])
def test_invalid_item_names_file_line_and_field(tmp_path, row, where):
    p = _write(tmp_path, [GOOD | {"id": "a0"}, row])
    with pytest.raises(ConceptError) as e:
        load_file(p)
    msg = str(e.value)
    assert str(p) in msg and "line 2" in msg and where in msg


def test_duplicate_ids_and_empty_sets(tmp_path):
    with pytest.raises(ConceptError, match="duplicate id 'a1'.*line 1"):
        load_file(_write(tmp_path, [GOOD, GOOD]))
    with pytest.raises(ConceptError, match="empty"):
        load_file(_write(tmp_path, ["// nothing"]))


def test_single_member_label_is_rejected_before_any_model(tmp_path):
    rows = [GOOD | {"id": f"a{i}", "labels": {"category": c}} for i, c in enumerate(["x", "x", "y"])]
    with pytest.raises(ConceptError, match="single member"):
        validate_sets(load_file(_write(tmp_path, rows)))


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["id", "domain", "prompt", "labels", "answer", "pair", "span"]),
                       st.one_of(st.text(max_size=5), st.integers(), st.none(), st.dictionaries(st.text(max_size=3),
                                                                                                 st.integers()))))
@example({})
@example({"id": "", "domain": "age", "prompt": "p", "labels": {}})
@example({"id": "x", "domain": "age", "prompt": "p", "labels": {"age": 10 ** 400}})
def test_any_object_is_accepted_or_rejected_cleanly(obj):
    try:
        sets = parse_jsonl(json.dumps(obj), "mem")
    except ConceptError as e:
        assert str(e).startswith("mem")
    else:
        assert sets[0].domain == obj["domain"]
