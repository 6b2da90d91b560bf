"""What a model accepts, read without loading its weights: the context length (from its config) and
its tokenizer; and the check that every prompt of a run, with its longest answer, fits in it.

Where the config and tokenizer come from, by kind of spec: a bundled model or a GGUF file whose
weights are already converted: the converted folder (config.json + tokenizer files, well under a
second); a GGUF not yet converted: the GGUF's metadata (transformers' GGUF support, a few seconds,
no tensor is de-quantised); a local folder: its config.json and tokenizer files; a hub id: the local
Hugging Face cache, else (online) the config and tokenizer files only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medmap.errors import ConceptError, ModelError
from medmap.models.bundled import BUNDLED, converted_dir, is_converted, is_gguf
from medmap.models.loader import hub_access, resolve_spec

#: Config fields that hold the context length, by architecture family (first one present wins).
CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "n_ctx")


@dataclass(frozen=True)
class ModelSpecInfo:
    """A model's name, context length (None when its config names none) and tokenizer."""

    name: str
    context_length: int | None
    context_key: str | None
    """The config field the context length was read from."""
    tokenizer: Any
    where: str
    """The folder or file the config and tokenizer were read from."""


def context_length(config) -> tuple[int | None, str | None]:
    """(length, config field) of a transformers config; (None, None) when no known field is set."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    for key in CONTEXT_KEYS:
        value = getattr(text, key, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value, key
    return None, None


def _source(info: dict) -> tuple[str, dict]:
    """Where to read the config and tokenizer from, and the from_pretrained keywords."""
    kind = info["kind"]
    if kind == "bundled":
        b = BUNDLED[info["name"]]
        folder = b.converted_folder()
        if is_converted(folder):
            return str(folder), {}
        gguf = b.gguf_path()
    elif kind == "gguf":
        gguf = Path(info["path"])
        if not is_gguf(gguf):
            raise ModelError(f"{gguf}: not a GGUF file (its first bytes are not 'GGUF')")
        folder = converted_dir(gguf)
        if is_converted(folder):
            return str(folder), {}
    elif kind == "folder":
        return info["path"], {}
    else:
        where = info["hub_id"]
        return where, hub_access(where)
    return str(gguf.parent), {"gguf_file": gguf.name}


def inspect_model(spec: str | None = None, *, trust_remote_code: bool = False) -> ModelSpecInfo:
    """Config and tokenizer of a model spec, without its weights (see the module docstring)."""
    from transformers import AutoConfig, AutoTokenizer

    info = resolve_spec(spec)
    where, kw = _source(info)
    try:
        config = AutoConfig.from_pretrained(where, trust_remote_code=trust_remote_code, **kw)
        tokenizer = AutoTokenizer.from_pretrained(where, trust_remote_code=trust_remote_code, **kw)
    except Exception as e:  # transformers raises many types for unreadable configs and tokenizers
        raise ModelError(f"could not read the config and tokenizer of model '{spec}' from {where}: "
                         f"{type(e).__name__}: {e}") from e
    n, key = context_length(config)
    return ModelSpecInfo(info["name"], n, key, tokenizer, where + (f" ({kw['gguf_file']})" if "gguf_file" in kw else ""))


def model_type(spec: str | None = None, *, trust_remote_code: bool = False) -> str:
    """The ``model_type`` of a model spec's config (the architecture registry's key), read without its
    weights as :func:`inspect_model` reads the config."""
    from transformers import AutoConfig

    info = resolve_spec(spec)
    where, kw = _source(info)
    try:
        config = AutoConfig.from_pretrained(where, trust_remote_code=trust_remote_code, **kw)
    except Exception as e:  # transformers raises many types for unreadable configs
        raise ModelError(f"could not read the config of model '{spec}' from {where}: {type(e).__name__}: {e}") from e
    return str(config.model_type)


def _lengths(tokenizer, texts: list[str], special: bool) -> list[int]:
    if not texts:
        return []
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=special)["input_ids"]]


def _sequences(items, tokenizer) -> list[list[tuple[str, int]]]:
    """Per item, every sequence the techniques feed the model: (what, length in tokens). Prompts are
    tokenised with the tokenizer's special tokens (BOS), answers without: as medmap feeds them."""
    prompt = _lengths(tokenizer, [it.prompt for it in items], True)
    with_answer = [i for i, it in enumerate(items) if it.answer is not None]
    answer = dict(zip(with_answer, _lengths(tokenizer, [items[i].answer for i in with_answer], False)))
    paired = [i for i, it in enumerate(items) if it.pair is not None]
    corrupted = dict(zip(paired, _lengths(tokenizer, [items[i].pair.corrupted_prompt for i in paired], True)))
    clean_ans = dict(zip(paired, _lengths(tokenizer, [items[i].pair.clean_answer for i in paired], False)))
    corr_ans = dict(zip(paired, _lengths(tokenizer, [items[i].pair.corrupted_answer for i in paired], False)))
    out = []
    for i in range(len(items)):
        seqs = [("prompt", prompt[i])]
        if i in answer:
            seqs.append(("answer", prompt[i] + answer[i]))
        if i in corrupted:
            longest = max(clean_ans[i], corr_ans[i])
            which = "pair.clean_answer" if clean_ans[i] >= corr_ans[i] else "pair.corrupted_answer"
            seqs.append((which, prompt[i] + longest))
            seqs.append(("pair.corrupted_prompt", corrupted[i] + longest))
        out.append(seqs)
    return out


_WHAT = {"prompt": "the prompt", "answer": "the prompt followed by its answer",
         "pair.clean_answer": "the prompt followed by the pair's longer answer",
         "pair.corrupted_answer": "the prompt followed by the pair's longer answer",
         "pair.corrupted_prompt": "the corrupted prompt followed by the pair's longer answer"}


def check_fits(sets, info: ModelSpecInfo) -> None:
    """Raise :class:`ConceptError` naming the file, item and field of the first sequence longer than
    the model's context (and how many items are too long). Nothing to check without a context length."""
    limit = info.context_length
    if limit is None:
        return
    for cs in sets:
        too_long = []
        for it, seqs in zip(cs.items, _sequences(cs.items, info.tokenizer)):
            over = [(f, n) for f, n in seqs if n > limit]
            if over:  # the prompt itself when it is too long, else the longest sequence
                too_long.append((it, over[0] if over[0][0] == "prompt" else max(over, key=lambda x: x[1])))
        if too_long:
            it, (field, n) = too_long[0]
            more = f" ({len(too_long) - 1} more item(s) of this set are too long)" if len(too_long) > 1 else ""
            raise ConceptError(
                f"{cs.origin}: item '{it.id}', field '{field}': {_WHAT[field]} is {n} tokens, longer than the "
                f"context of model '{info.name}' ({limit} tokens, {info.context_key} in its config){more}; "
                "shorten it or use a model with a longer context")
