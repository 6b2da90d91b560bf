"""Items packed several to a row: the layout (planted lengths), the model's outputs at every answer
position against the padded batch on every tiny architecture, and the check that falls back to padding
when a model lets packed items read each other (planted: transformers' packed-sequence detection off)."""

import pytest
import torch

from medmap.capture.packing import first_fit, pack_forced, packs
from medmap.capture.scoring import encode_forced, forced_positions

PROMPTS = ["The first-line drug for type 2 diabetes is", "Fever:", "Chest pain points to the",
           "Patient: a 17-year-old woman with a cough. Diagnosis:"]
ANSWERS = [" metformin", " flu", " heart", " bronchitis"]


def test_first_fit_places_every_item_once_within_the_width():
    lengths = [9, 3, 7, 2, 5, 1, 9]
    rows = first_fit(lengths, 10)
    assert sorted(i for r in rows for i in r) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in r) <= 10 for r in rows)
    assert rows == [[0, 5], [6], [2, 1], [4, 3]]  # longest first, each into the first row with room
    assert len(first_fit([5] * 4, 5)) == 4  # items as long as the rows: one per row, as padded
    with pytest.raises(ValueError, match="11 positions"):
        first_fit([11], 10)


def test_packed_rows_hold_each_item_with_positions_from_zero(tiny_llama):
    pb = pack_forced(tiny_llama.tokenizer, PROMPTS, ANSWERS)
    ab = encode_forced(tiny_llama.tokenizer, PROMPTS, ANSWERS)
    assert pb.input_ids.shape[1] == ab.batch.input_ids.shape[1]  # rows as long as the longest item
    assert pb.input_ids.shape[0] < len(PROMPTS)  # and fewer of them
    rows, pos, tgt = forced_positions(ab.answers, ab.batch.input_ids.shape[1])
    assert torch.equal(pb.targets, tgt)
    # each answer-predicting position reads the same token at the same position of its item as padded
    assert torch.equal(pb.input_ids[pb.rows, pb.pos], ab.batch.input_ids[rows, pos])
    assert torch.equal(pb.position_ids[pb.rows, pb.pos], ab.batch.position_ids[rows, pos])
    assert (pb.position_ids[:, 0] == 0).all()


def test_packed_outputs_equal_the_padded_ones(tiny):
    """Every answer-predicting position's final hidden state, packed vs padded."""
    assert packs(tiny)
    base = tiny.model.base_model
    pb = pack_forced(tiny.tokenizer, PROMPTS, ANSWERS)
    ab = encode_forced(tiny.tokenizer, PROMPTS, ANSWERS)
    with torch.no_grad():
        hp = base(**pb.model_inputs(tiny.device), use_cache=False).last_hidden_state
        hb = base(**ab.batch.model_inputs(), use_cache=False).last_hidden_state
    rows, pos, _ = forced_positions(ab.answers, hb.shape[1])
    torch.testing.assert_close(hp[pb.rows, pb.pos], hb[rows, pos], rtol=1e-5, atol=1e-5)


def test_a_model_that_lets_packed_items_mix_is_run_padded(tiny_llama, monkeypatch):
    import transformers.masking_utils as mu

    tiny_llama.__dict__.pop("_packs", None)
    with monkeypatch.context() as m:
        m.setattr(mu, "find_packed_sequence_indices", lambda position_ids: None)
        assert not packs(tiny_llama)
        assert not packs(tiny_llama)  # remembered
    del tiny_llama._packs
    assert packs(tiny_llama)
