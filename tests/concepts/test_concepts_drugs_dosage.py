"""Design properties of the built-in drugs and dosage sets, checked from the shipped files, and the
builders reproducing those files byte for byte."""

import re
from collections import Counter

import pytest
from concept_tools import tool_module

from medmap.concepts import load_builtin
from medmap.concepts.sets import builtin_path

UNIT_WORDS = {"mg", "g", "mcg", "microgram", "micrograms", "milligram", "milligrams", "gram", "grams",
              "unit", "units", "ml", "milliliter", "milliliters", "millilitre", "millilitres", "kg",
              "kilogram", "kilograms", "iu"}


def words(text):
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def neutral(cs, template="neutral"):
    return [it for it in cs.items if it.template == template]


def test_drugs_neutral_template_has_150_drugs_and_5_per_label_value():
    cs = load_builtin("drugs")
    items = neutral(cs)
    assert len({it.concept for it in items}) == len(items) >= 150
    for label in ("mechanism", "specialty"):
        counts = Counter(it.labels[label] for it in items)
        assert min(counts.values()) >= 5, (label, counts.most_common()[-3:])
        # every value of the whole set also occurs in the neutral template
        assert set(counts) == {it.labels[label] for it in cs.items}


def test_drugs_labels_cross():
    """Most classes span two specialties or more, and most specialties hold three classes or more."""
    items = neutral(load_builtin("drugs"))
    spec_of_class, class_of_spec = {}, {}
    for it in items:
        spec_of_class.setdefault(it.labels["mechanism"], set()).add(it.labels["specialty"])
        class_of_spec.setdefault(it.labels["specialty"], set()).add(it.labels["mechanism"])
    assert sum(len(v) >= 2 for v in spec_of_class.values()) > len(spec_of_class) / 2
    assert sum(len(v) >= 3 for v in class_of_spec.values()) > len(class_of_spec) / 2


def test_drugs_every_item_has_a_bool_stem_and_both_values_occur():
    cs = load_builtin("drugs")
    assert all(type(it.labels["stem"]) is bool for it in cs.items)
    assert {it.labels["stem"] for it in neutral(cs)} == {True, False}
    # brand names carry no INN stem, bar the few that do (Xylocaine: -caine)
    brands = neutral(cs, "neutral_brand")
    assert brands and sum(it.labels["stem"] for it in brands) <= len(brands) // 20


def test_drugs_neutral_prompts_name_no_label_value_and_ask_nothing():
    cs = load_builtin("drugs")
    label_words = set()
    for it in cs.items:
        for label in ("mechanism", "specialty"):
            label_words |= {w for w in words(it.labels[label]) if len(w) >= 3}
    templates = {it.template for it in cs.items if it.template.startswith("neutral")}
    assert {"neutral", "neutral_brand"} <= templates
    for it in cs.items:
        if it.template.startswith("neutral"):
            frame = it.prompt.replace(it.span, " ")
            assert not words(frame) & label_words, it.id
            # a label word inside the name itself (only "insulin glargine" and the other insulins)
            # is a class stem and must be recorded as one
            if words(it.span) & label_words:
                assert it.labels["stem"] is True, it.id
            assert it.answer is None and it.pair is None, it.id
            assert it.prompt.endswith("."), it.id
        else:
            assert it.answer is not None, it.id


def test_dosage_neutral_prompts_state_no_unit_and_units_have_5_facts():
    cs = load_builtin("dosage")
    items = neutral(cs)
    for it in cs.items:
        if it.template.startswith("neutral"):
            assert not words(it.prompt) & UNIT_WORDS, it.id
            assert it.answer is None and it.pair is None, it.id
        else:  # no task prompt states the unit either
            assert not words(it.prompt.replace(it.span, " ")) & UNIT_WORDS, it.id
    counts = Counter(it.labels["unit"] for it in items)
    assert min(counts.values()) >= 5 and len(counts) >= 5, counts
    assert "mg/kg" in counts and not any(u.startswith("milligram") for u in counts)


@pytest.mark.parametrize("domain", ["drugs", "dosage"])
def test_pairs_change_only_the_span_and_answers_differ_in_first_word(domain):
    cs = load_builtin(domain)
    spans = {it.span for it in cs.items}
    assert len(cs.pairs) >= 30
    for it in cs.pairs:
        prefix, suffix = it.prompt.split(it.span)
        corrupted = it.pair.corrupted_prompt
        assert corrupted.startswith(prefix) and corrupted.endswith(suffix), it.id
        assert corrupted[len(prefix):len(corrupted) - len(suffix)] in spans, it.id
        assert it.pair.clean_answer.split()[0] != it.pair.corrupted_answer.split()[0], it.id


@pytest.mark.parametrize("domain", ["drugs", "dosage"])
def test_builder_reproduces_the_shipped_file_byte_for_byte(domain, tmp_path):
    tool_module(f"build_{domain}").main(["--out-dir", str(tmp_path)])
    assert (tmp_path / f"{domain}.jsonl").read_bytes() == builtin_path(domain).read_bytes()


def test_sources_note_counts_match_the_files():
    note = (builtin_path("drugs").parent / "SOURCES_drugs_dosage.md").read_text()
    for domain in ("drugs", "dosage"):
        row = next(line for line in note.splitlines() if line.startswith(f"| `{domain}.jsonl` |"))
        n_items, n_pairs = (int(c) for c in row.strip(" |").split("|")[-2:])
        cs = load_builtin(domain)
        assert (n_items, n_pairs) == (len(cs), len(cs.pairs)), domain
