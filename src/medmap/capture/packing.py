"""Several items in one row of a batch, instead of one item per row padded to the longest.

A padded batch runs every row as long as its longest item: on few-shot prompts of 23-63 tokens a third
of the positions are padding, and every matrix product runs them. A *packed* batch places items one
after the other in rows no longer than the longest item (first fit, longest first); each item's
positions restart at 0, and transformers reads that as packed sequences: its attention mask lets a
token attend only to earlier tokens of its own item (``masking_utils.find_packed_sequence_indices``,
used when no attention mask is given). Every item then computes what it computes alone, up to float
rounding. Whether a model honours this is checked once per model (``packs``): a model or a
transformers version that ignores the positions would let items read each other, and is run padded."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from medmap.capture.batching import tokenize
from medmap.capture.scoring import answer_tokens


@dataclass
class PackedBatch:
    """``input_ids`` and ``position_ids`` [R, W]; the answer tokens' predicting positions as ``rows``,
    ``pos`` and their ``targets`` (in item order, each answer's tokens in order), as
    ``scoring.forced_positions`` gives them for a padded batch."""

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    rows: torch.Tensor
    pos: torch.Tensor
    targets: torch.Tensor

    def model_inputs(self, device) -> dict:
        return {"input_ids": self.input_ids.to(device), "position_ids": self.position_ids.to(device)}


def first_fit(lengths: list[int], width: int) -> list[list[int]]:
    """Indices of ``lengths`` in rows of at most ``width`` positions: longest first, each into the first
    row with room (first-fit decreasing; ties in index order, so the packing is deterministic)."""
    rows: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        if lengths[i] > width:
            raise ValueError(f"an item of {lengths[i]} positions does not fit rows of {width}")
        for r, left in enumerate(room):
            if lengths[i] <= left:
                rows[r].append(i)
                room[r] -= lengths[i]
                break
        else:
            rows.append([i])
            room.append(width - lengths[i])
    return rows


def pack_forced(tokenizer, prompts: list[str], answers: list[str]) -> PackedBatch:
    """The items of ``scoring.encode_forced`` (each prompt followed by its answer but the answer's last
    token), packed in rows as long as the longest item. The rest of a row is padding whose positions
    restart at 0: a sequence of its own, which no item reads."""
    ans = answer_tokens(tokenizer, answers)
    seqs = [tokenize(tokenizer, p) + a[:-1] for p, a in zip(prompts, ans)]
    width = max(len(s) for s in seqs)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    layout = first_fit([len(s) for s in seqs], width)
    ids = torch.full((len(layout), width), pad, dtype=torch.long)
    positions = torch.zeros((len(layout), width), dtype=torch.long)
    start = [(0, 0)] * len(seqs)
    for r, members in enumerate(layout):
        o = 0
        for i in members:
            n = len(seqs[i])
            ids[r, o:o + n] = torch.tensor(seqs[i])
            positions[r, o:o + n] = torch.arange(n)
            start[i] = (r, o)
            o += n
        positions[r, o:] = torch.arange(width - o)
    rows = torch.tensor([start[i][0] for i, a in enumerate(ans) for _ in a])
    pos = torch.tensor([start[i][1] + len(seqs[i]) - len(a) + s for i, a in enumerate(ans) for s in range(len(a))])
    return PackedBatch(ids, positions, rows, pos, torch.tensor([t for a in ans for t in a]))


def packs(lm) -> bool:
    """Whether ``lm`` keeps packed items apart: two short sequences run packed in one row give the final
    hidden states they give run alone (loose tolerance: a mask that lets them read each other changes
    them by their own size). Checked once per model and remembered on ``lm``."""
    if not hasattr(lm, "_packs"):
        lm._packs = _keeps_apart(lm)
    return lm._packs


@torch.no_grad()
def _keeps_apart(lm) -> bool:
    base = lm.model.base_model
    vocab = lm.model.get_input_embeddings().num_embeddings
    a = torch.arange(5, 11) % vocab
    b = torch.arange(40, 44) % vocab
    try:
        alone = [base(input_ids=s[None].to(lm.device), use_cache=False).last_hidden_state[0].float() for s in (a, b)]
        both = base(input_ids=torch.cat([a, b])[None].to(lm.device),
                    position_ids=torch.cat([torch.arange(len(a)), torch.arange(len(b))])[None].to(lm.device),
                    use_cache=False).last_hidden_state[0].float()
    except (RuntimeError, ValueError, TypeError):  # a model that cannot take position ids without a mask
        return False
    want = torch.cat(alone)
    return bool(torch.allclose(both, want, rtol=1e-2, atol=1e-2 * float(want.abs().max())))
