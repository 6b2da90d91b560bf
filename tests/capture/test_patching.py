import torch

from medmap.capture.patching import Pair, patch_last, patch_positions, patch_reference

PAIRS = [
    Pair("Crushing chest pain on exertion: angina", "Productive cough with fever: angina", " heart", " lung"),
    Pair("A 16-year-old patient is", "A 56-year-old patient is", " a minor", " an adult"),
    Pair("Dose of insulin: 10", "Dose of aspirin: 75", " units", " mg"),
]


def test_fast_last_position_equals_reference(tiny):
    fast = patch_last(tiny, PAIRS)
    ref = patch_reference(tiny, PAIRS)
    torch.testing.assert_close(fast["ld_patched"], ref, atol=1e-4, rtol=1e-4)


PREAMBLE = "Patient: 34-year-old. Status: adult.\nPatient: 9-year-old. Status: minor.\nPatient: "
SHARED = [Pair(PREAMBLE + "16-year-old. Status:", PREAMBLE + "56-year-old. Status:", " minor", " adult"),
          Pair(PREAMBLE + "56-year-old. Status:", PREAMBLE + "16-year-old. Status:", " adult", " minor"),
          Pair(PREAMBLE + "12-year-old. Status:", PREAMBLE + "72-year-old. Status:", " minor", " adult"),
          PAIRS[0]]


def test_prompts_sharing_a_preamble_run_it_once_and_equal_reference(tiny):
    """Few-shot prompts: the common preamble of the prompts runs once (the prefix is built in two passes,
    planted: it must be) and the patched scores still equal the one-forward-per-cell oracle."""
    from medmap.capture.batching import tokenize
    from medmap.capture.steps import Prefix, has_sliding_window

    prompts = [p.clean for p in SHARED] + [SHARED[2].corrupted]
    prefix = Prefix(tiny, [tokenize(tiny.tokenizer, p) for p in prompts])
    if has_sliding_window(tiny):  # gemma: one plain pass (a window counts cache slots)
        assert prefix.groups == []
    else:
        assert len(prefix.groups) == 1 and sorted(prefix.groups[0][0]) == [0, 1, 2, 4]
        assert prefix.groups[0][1] >= len(tokenize(tiny.tokenizer, PREAMBLE)) - 1
    fast = patch_last(tiny, SHARED)
    ref = patch_reference(tiny, SHARED)
    torch.testing.assert_close(fast["ld_patched"], ref, atol=1e-4, rtol=1e-4)
    plain = patch_last(tiny, SHARED[:1])  # a pair alone: no other prompt to share with but its partner
    torch.testing.assert_close(plain["ld_patched"], ref[:1], atol=1e-4, rtol=1e-4)


def test_shared_groups_split_where_it_runs_fewer_tokens():
    from medmap.capture.steps import shared_groups

    a, b = [1] * 40, [1] * 9 + [2] * 40  # two families that agree on only 9 leading tokens
    seqs = [a + [3], a + [4], b + [5], b + [6], [7, 8, 9]]
    assert shared_groups(seqs) == [([0, 1], 40), ([2, 3], 49)]
    assert shared_groups([[1, 2, 3], [4, 5, 6]]) == []
    assert shared_groups([a + [3], a + [4]], minimum=50) == []


def test_fast_path_layer_groups_and_subsets_equal_reference(tiny):
    """Patched rows start at their layer (groups of 1, 3 and all layers; an unsorted subset of layers)."""
    ref = patch_reference(tiny, PAIRS)
    for group in (1, 3, tiny.n_layers):
        fast = patch_last(tiny, PAIRS, group=group)
        torch.testing.assert_close(fast["ld_patched"], ref, atol=1e-4, rtol=1e-4)
    sub = [tiny.n_layers - 1, 0, 1]
    fast = patch_last(tiny, PAIRS, layers=sub, group=2)
    torch.testing.assert_close(fast["ld_patched"], ref[:, sub], atol=1e-4, rtol=1e-4)


def test_general_last_equals_fast(tiny):
    fast = patch_last(tiny, PAIRS)
    gen = patch_positions(tiny, PAIRS[1:2] * 1 + [PAIRS[1]], positions="last")
    f2 = patch_last(tiny, [PAIRS[1], PAIRS[1]])
    torch.testing.assert_close(gen["ld_patched"], f2["ld_patched"], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(gen["ld_clean"], f2["ld_clean"], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(gen["ld_corrupted"], f2["ld_corrupted"], atol=1e-4, rtol=1e-4)
    assert fast["ld_patched"].shape == (3, tiny.n_layers)


def test_patching_all_positions_reproduces_clean(tiny):
    same_len = [PAIRS[1]]
    out = patch_positions(tiny, same_len, positions="all")
    for j in range(tiny.n_layers):
        torch.testing.assert_close(out["ld_patched"][:, j], out["ld_clean"], atol=1e-4, rtol=1e-4)


def test_patching_nothing_reproduces_corrupted(tiny_llama):
    out = patch_last(tiny_llama, PAIRS, layers=[])
    ref = patch_positions(tiny_llama, [PAIRS[1]], layers=[], positions="all")
    assert out["ld_patched"].shape == (3, 0)
    torch.testing.assert_close(out["ld_corrupted"][1:2], ref["ld_corrupted"], atol=1e-4, rtol=1e-4)


def test_single_position_offset_zero_is_last_token(tiny):
    a = patch_positions(tiny, [PAIRS[1]], positions=0)
    b = patch_last(tiny, [PAIRS[1]])
    torch.testing.assert_close(a["ld_patched"], b["ld_patched"], atol=1e-4, rtol=1e-4)
    digit = len("A 16-year-old patient is") - 3  # offset of the differing digit token (byte tokens + BOS)
    c = patch_positions(tiny, [PAIRS[1]], positions=digit)  # patching the differing token instead
    assert not torch.allclose(c["ld_patched"], b["ld_patched"], atol=1e-4)


def test_per_position_grid_offset_zero_equals_last_token_recovery(tiny_llama):
    """``per_position`` adds recovery.pos-<k> curves; patching only the last token (k = 0) is the
    default last-position recovery when every pair has equal token lengths."""
    import numpy as np

    from medmap.analyses.causal import CausalOptions, patching
    from medmap.capture.batching import tokenize
    from medmap.concepts.schema import ConceptItem, PatchPair
    from medmap.concepts.sets import ConceptSet

    tok = tiny_llama.tokenizer
    items, ages = [], [(15, 55), (16, 56), (12, 62), (17, 47), (14, 84), (13, 73)]
    for a, b in ages:
        clean, corr = f"A {a}-year-old patient is", f"A {b}-year-old patient is"
        assert len(tokenize(tok, clean)) == len(tokenize(tok, corr))
        items.append(ConceptItem(id=f"p{a}", domain="age", prompt=clean, labels={"age": a}, answer=" a minor",
                                 pair=PatchPair(corrupted_prompt=corr, clean_answer=" a minor",
                                                corrupted_answer=" an adult")))
    cs = ConceptSet("age", tuple(items), "test")
    o = CausalOptions(per_position=3, min_gap=-1e9, n_boot=20)
    df, info = patching(tiny_llama, cs, o)
    # the random model need not prefer the clean answer; keep every pair so both curves see the same ones
    ok = info["n_used"]
    assert {"recovery.pos-0", "recovery.pos-1", "recovery.pos-2"} <= set(df["metric"])
    rec = df[df.metric == "recovery"].sort_values("layer")["value"].to_numpy()
    pos0 = df[df.metric == "recovery.pos-0"].sort_values("layer")["value"].to_numpy()
    pos2 = df[df.metric == "recovery.pos-2"].sort_values("layer")["value"].to_numpy()
    assert ok > 0 and len(rec) == tiny_llama.n_layers
    np.testing.assert_allclose(pos0, rec, atol=1e-4)
    assert not np.allclose(pos2, rec, atol=1e-3)
