"""`medmap concepts --check`: the JSON report's shape and counts, on a tiny model with planted pairs (a
pair whose answers share a first token, a pair of unequal token length), and the text report, which
prints ids from the user's file as they are (no rich markup)."""

import json

import pytest
from tiny import saved_tiny, tiny_model

from medmap.analyses.checks import check_sets
from medmap.cli.main import main
from medmap.concepts import parse_jsonl

KEYS = {"domain", "n_items", "n_neutral", "usable_items", "n_pairs", "pairs_usable", "pairs_equal_length",
        "pairs_first_token_shared", "pairs_model_right", "pairs_model_right_pct", "excluded", "excluded_pairs",
        "pairs_unequal_length_ids", "pairs_first_token_shared_ids", "notes"}


def _rows():
    """Four task items with pairs and one neutral item. The tiny tokenizer is byte-level: every
    character is a token, so an answer that starts with a space starts with the space token."""
    def item(i, prompt, pair, answer="x", template="t0"):
        row = {"id": f"[bold]s{i}", "domain": "symptoms", "prompt": prompt, "labels": {"category": "c%d" % (i % 2)},
               "template": template}
        if answer is not None:
            row["answer"] = answer
        if pair:
            row["pair"] = dict(zip(("corrupted_prompt", "clean_answer", "corrupted_answer"), pair))
        return row
    return [
        item(0, "Pain in the chest is", ("Pain in the wrist is", "x", "y")),  # equal length, distinct firsts
        item(1, "Pain in the head is", ("Pain in the hip is", "x", "y")),     # unequal length (head/hip)
        item(2, "Pain in the hand is", ("Pain in the foot is", " ab", " cd")),  # answers share " " (first token)
        item(3, "Pain in the back is", ("Pain in the neck is", "y", "x")),    # equal length, distinct firsts
        item(4, "The patient reports pain.", None, answer=None, template="neutral"),
        item(5, "The patient reports a cough.", None, answer=None, template="neutral"),
    ]


def test_check_counts_planted_pairs():
    cs = parse_jsonl("\n".join(json.dumps(r) for r in _rows()), "mem")[0]
    (r,) = check_sets(tiny_model(), [cs])
    assert set(r) == KEYS
    assert r["domain"] == "symptoms" and r["n_items"] == 6 and r["n_neutral"] == 2 and r["usable_items"] == 4
    assert r["n_pairs"] == 4
    assert r["pairs_equal_length"] == 3 and r["pairs_unequal_length_ids"] == ["[bold]s1"]
    assert r["pairs_first_token_shared"] == 1 and r["pairs_first_token_shared_ids"] == ["[bold]s2"]
    assert 0 <= r["pairs_usable"] <= r["n_pairs"]
    # every pair is either usable or excluded with a reason
    assert r["pairs_usable"] + len(r["excluded_pairs"]) == r["n_pairs"]
    assert all(e["reason"] for e in r["excluded_pairs"])
    assert "no reference answer" not in r["excluded"]  # neutral items ask nothing: not excluded


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    return saved_tiny(tmp_path_factory.mktemp("m"))


def test_check_cli_json_and_text(tmp_path, tiny_folder, capsys):
    f = tmp_path / "set.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    main(["concepts", "--check", "--json", "--concepts", str(f), "--model", str(tiny_folder)])
    out = capsys.readouterr().out
    rows = json.loads(out)
    assert isinstance(rows, list) and len(rows) == 1
    assert {"domain", "n_pairs", "pairs_usable", "pairs_equal_length", "pairs_first_token_shared"} <= set(rows[0])
    assert rows[0]["pairs_first_token_shared"] == 1 and rows[0]["pairs_equal_length"] == 3
    main(["concepts", "--check", "--concepts", str(f), "--model", str(tiny_folder)])
    text = capsys.readouterr().err  # the text report goes where medmap's messages go (stderr)
    assert "3/4 of equal token length" in text and "1 with answers sharing a first token" in text
    assert "[bold]s1" in text  # printed as written, not taken as markup
