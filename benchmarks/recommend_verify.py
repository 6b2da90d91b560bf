"""Do the recommended layers work? Check by intervention on a finished run of smollm2-135m.

Un-learn one domain (default dosage) by gradient ascent on the reference answers of its training items,
with LoRA (peft) on K decoder layers only, for a fixed number of steps, in three kinds of arm with the
same budget: (a) the K layers ``medmap recommend --goal unlearn`` ranks first, (b) K random layers
(several seeds), (c) the K layers it ranks last. Each arm reports the drop of the mean answer
log-probability (nats) on held-out items of the target domain, on the other medical domains and on a
general-knowledge set, and a specificity ratio = target drop / collateral drop (collateral = mean drop
over the other domains and the general set, each weighted equally; floored at 0.01 nats so that an arm
without collateral damage does not divide by ~0). The last line is
``RATIO <specificity of the recommended layers / mean specificity of the random-layer arms>``.

This is an experiment, not a test: a ratio below 1 is reported as it comes.

Fixed before looking at any result: split of each set into train/held-out by concept (items sharing a
concept, i.e. paraphrases of one fact, stay together), seed 0; 16 training items, up to 24 held-out
items of the target, 12 items per other domain, 24 general-knowledge items, LoRA r=8, alpha=16, no
dropout, on the architecture table's target modules; Adam, lr 2e-3, 8 full-batch steps of gradient
ascent on the summed answer log-likelihood; K=4; 5 random seeds. About 10 CPU-minutes on 2 cores.

    .venv/bin/python benchmarks/recommend_verify.py RUN_DIR [--domain dosage] [--save-merged DIR]

``--save-merged DIR`` writes the recommended arm's merged model (a Hugging Face folder, safetensors)
for ``medmap run --model DIR`` and ``medmap compare --diff``.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

STEPS, LR, RANK, ALPHA, K, SEEDS = 8, 2e-3, 8, 16, 4, 5
N_TRAIN, N_HELDOUT, N_OTHER, N_GENERAL = 16, 24, 12, 24
FLOOR = 0.01
SPLIT_SEED = 0

def split_by_concept(items, seed: int):
    """Items grouped by concept, the groups shuffled with ``seed``: (train, held-out) item lists."""
    groups: dict[str, list] = {}
    for it in items:
        groups.setdefault(it.concept or it.id, []).append(it)
    keys = list(groups)
    np.random.default_rng(seed).shuffle(keys)
    train, held = [], []
    for k in keys:
        (train if len(train) < N_TRAIN else held).extend(groups[k])
    return train[:N_TRAIN], held[:N_HELDOUT]


def sample(items, n: int, seed: int):
    idx = np.sort(np.random.default_rng(seed).choice(len(items), min(n, len(items)), replace=False))
    return [items[i] for i in idx]


def eval_sets(target: str):
    """{name: [(prompt, answer)]}: target train / held-out, every other medical domain, general set."""
    from medmap.concepts import load_builtin
    from medmap.concepts.domains import default_domains

    sets = {}
    train, held = split_by_concept(load_builtin(target).answered, SPLIT_SEED)
    sets["target:train"] = [(it.prompt, it.answer) for it in train]
    sets["target:held-out"] = [(it.prompt, it.answer) for it in held]
    for d in default_domains():
        if d != target:
            sets[d] = [(it.prompt, it.answer) for it in sample(load_builtin(d).answered, N_OTHER, SPLIT_SEED)]
    ref = load_builtin("reference").answered
    sets["general"] = [(it.prompt, it.answer) for it in sample(ref, N_GENERAL, SPLIT_SEED)]
    return sets, "general: the built-in 'reference' set"


def answer_logprob(lm, pairs, grad: bool = False) -> torch.Tensor:
    """Summed log-probability of each answer given its prompt (teacher forced), [items]."""
    from medmap.capture.scoring import encode_answers, tail_logits

    out = []
    for s in range(0, len(pairs), 16):
        chunk = pairs[s:s + 16]
        ab = encode_answers(lm.tokenizer, [p for p, _ in chunk], [a for _, a in chunk])
        with torch.set_grad_enabled(grad):
            logp = torch.log_softmax(tail_logits(lm, ab), -1)
            k = logp.shape[1]
            for b, ans in enumerate(ab.answers):
                idx = torch.arange(k - len(ans) - 1, k - 1)
                out.append(logp[b, idx, torch.tensor(ans)].sum())
    return torch.stack(out)


def measure(lm, sets) -> dict[str, float]:
    return {name: float(answer_logprob(lm, pairs).mean()) for name, pairs in sets.items()}


def unlearn(lm, lora_json: dict, train_pairs, seed: int = 0):
    """A copy of ``lm`` after gradient ascent with LoRA as configured; the LoRA merged into the weights."""
    import peft

    from medmap.models import LoadedModel
    from medmap.models.registry import resolve

    torch.manual_seed(seed)
    model = peft.get_peft_model(copy.deepcopy(lm.model), peft.LoraConfig(**lora_json))
    model.train()
    wrapped = LoadedModel(model, lm.tokenizer, lm.arch, lm.name, "verify")
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=LR)
    for _ in range(STEPS):
        opt.zero_grad()
        loss = answer_logprob(wrapped, train_pairs, grad=True).sum()  # ascent on the NLL = descent on log p
        loss.backward()
        opt.step()
    merged = model.merge_and_unload()
    merged.eval()
    return LoadedModel(merged, lm.tokenizer, resolve(merged), lm.name + "+unlearn", "verify")


def drops(before: dict, after: dict, others: list[str]) -> dict:
    d = {k: before[k] - after[k] for k in before}
    collateral = statistics.fmean(d[k] for k in others)
    return {"train": d["target:train"], "target": d["target:held-out"], "other": statistics.fmean(
        d[k] for k in others if k != "general"), "general": d["general"], "collateral": collateral,
        "specificity": d["target:held-out"] / max(collateral, FLOOR)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--domain", default="dosage")
    ap.add_argument("--save-merged", type=Path, default=None)
    ap.add_argument("--smoke", action="store_true", help="2 steps, 2 seeds, 8 items per set: checks that the "
                                                         "script runs; its numbers mean nothing")
    args = ap.parse_args()
    if args.smoke:
        global STEPS, SEEDS, N_TRAIN, N_HELDOUT, N_OTHER, N_GENERAL
        STEPS, SEEDS, N_TRAIN, N_HELDOUT, N_OTHER, N_GENERAL = 2, 2, 8, 8, 4, 8
    import medmap
    from medmap.models import load_model

    t0 = time.time()
    torch.set_num_threads(2)
    km = medmap.load(args.run_dir)
    ranking = km.recommend("unlearn", args.domain, budget=0)
    n = km.n_layers
    rec_layers = sorted(int(x) for x in ranking["layer"][:K])
    least = sorted(int(x) for x in ranking["layer"][-K:])
    lora = km.to_peft(ranking.head(K), r=RANK, lora_alpha=ALPHA, lora_dropout=0.0)
    print(f"run {args.run_dir} ({km.model}, {n} layers); un-learning '{args.domain}'")
    print(f"recommended (top {K}): {rec_layers}; least recommended: {least}")
    for r in ranking.head(K).itertuples():
        print(f"  L{r.layer}: votes {r.votes:g}, effect {r.effect:.2f}: {r.reasons}")
    for msg in ranking.attrs["notes"]:
        print(f"  note: {msg}")
    spec = (km.config or {}).get("model", "smollm2-135m")
    lm = load_model(spec)
    sets, note = eval_sets(args.domain)
    print(f"items: {', '.join(f'{k} {len(v)}' for k, v in sets.items())}; {note}")
    print(f"LoRA r={RANK} alpha={ALPHA} on {lora['target_modules']}; Adam lr {LR}, {STEPS} steps of gradient ascent")
    before = measure(lm, sets)
    others = [k for k in sets if not k.startswith("target:")]
    arms = [("recommended", rec_layers), ("least", least)]
    rng_layers = [sorted(np.random.default_rng(s).choice(n, K, replace=False).tolist()) for s in range(SEEDS)]
    arms += [(f"random s{s}", ls) for s, ls in enumerate(rng_layers)]
    results = {}
    for name, layers in arms:
        t = time.time()
        ft = unlearn(lm, {**lora, "layers_to_transform": layers}, sets["target:train"])
        results[name] = drops(before, measure(ft, sets), others)
        print(f"  arm {name:12s} L{layers}: {time.time() - t:.0f} s", flush=True)
        if name == "recommended" and args.save_merged is not None:
            ft.model.save_pretrained(args.save_merged, safe_serialization=True)
            lm.tokenizer.save_pretrained(args.save_merged)
            print(f"  merged model of the recommended arm -> {args.save_merged}")
        del ft
    print()
    cols = ("train", "target", "other", "general", "collateral", "specificity")
    print(f"{'arm':14s} {'layers':18s} " + " ".join(f"{c:>11s}" for c in cols))
    for (name, layers) in arms:
        r = results[name]
        print(f"{name:14s} {str(layers):18s} " + " ".join(f"{r[c]:11.3f}" for c in cols))
    rand = [results[f"random s{s}"] for s in range(SEEDS)]
    for stat, f in (("random mean", statistics.fmean), ("random sd", statistics.stdev)):
        print(f"{stat:14s} {'':18s} " + " ".join(f"{f([r[c] for r in rand]):11.3f}" for c in cols))
    spec_r = [r["specificity"] for r in rand]
    print(f"random specificity range: {min(spec_r):.3f} .. {max(spec_r):.3f}")
    print("drops in nats of mean answer log-probability (before - after); target = held-out items of the "
          "target domain; other = mean over the other medical domains; collateral = mean over other domains "
          f"and the general set; specificity = target / max(collateral, {FLOOR})")
    print(f"total {time.time() - t0:.0f} s")
    print(f"RATIO {results['recommended']['specificity'] / statistics.fmean(spec_r):.2f}")


if __name__ == "__main__":
    sys.exit(main())
