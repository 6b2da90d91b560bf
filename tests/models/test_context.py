"""A prompt longer than the model's context is rejected before any weights are loaded, naming the
file, the item and the field; the context length and tokenizer come from the config alone."""

import json

import pytest
import transformers
from transformers import AutoConfig, PretrainedConfig

from medmap.cli.main import main
from medmap.models import inspect_model
from medmap.models.context import context_length
from tiny import saved_tiny

CONTEXT = 64  # the byte tokenizer: one token per byte, plus BOS before a prompt


@pytest.fixture(scope="module")
def short_folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny-short")
    return saved_tiny(d, max_position_embeddings=CONTEXT)


@pytest.fixture
def no_weights(monkeypatch):
    """Any attempt to load weights fails the test."""
    def boom(*a, **k):
        raise AssertionError("model weights were loaded")

    monkeypatch.setattr("medmap.models.load_model", boom)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", boom)


def _item(i, category, prompt="Pain in the chest.", answer=" yes", pair=None):
    it = {"id": f"sym-{i}", "domain": "symptoms", "prompt": prompt, "labels": {"category": category},
          "answer": answer}
    if pair:
        it["pair"] = pair
    return it


def _file(tmp_path, special: dict) -> str:
    items = [_item(0, "a"), _item(1, "a"), _item(2, "b"), {**_item(3, "b"), **special}]
    p = tmp_path / "set.jsonl"
    p.write_text("".join(json.dumps(it) + "\n" for it in items))
    return str(p)


def _error(capsys) -> str:
    return " ".join(capsys.readouterr().err.split())


def test_context_length_is_read_from_the_config(short_folder):
    info = inspect_model(str(short_folder))
    assert (info.context_length, info.context_key) == (CONTEXT, "max_position_embeddings")
    assert info.tokenizer("abc")["input_ids"] == [1] + info.tokenizer("abc", add_special_tokens=False)["input_ids"]
    assert context_length(AutoConfig.for_model("gpt2", n_positions=32))[0] == 32
    assert context_length(PretrainedConfig(n_ctx=48)) == (48, "n_ctx")
    assert context_length(PretrainedConfig()) == (None, None)


def test_long_prompt_rejected_before_weights(short_folder, tmp_path, capsys, no_weights):
    f = _file(tmp_path, {"prompt": "x" * CONTEXT})  # 65 tokens with BOS
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as e:
        main(["run", "--model", str(short_folder), "--concepts", f, "--domains", "symptoms", "--out", str(out)])
    assert e.value.code == 2
    err = _error(capsys)
    assert f in err and "item 'sym-3'" in err and "field 'prompt'" in err
    assert f"is {CONTEXT + 1} tokens" in err and f"({CONTEXT} tokens, max_position_embeddings" in err
    assert not out.exists()  # nothing written either


def test_prompt_that_fits_with_a_long_answer_names_the_answer(short_folder, tmp_path, capsys, no_weights):
    f = _file(tmp_path, {"prompt": "x" * 40, "answer": " " + "y" * 30})  # 41 + 31 > 64
    with pytest.raises(SystemExit):
        main(["analyze", "--model", str(short_folder), "--concepts", f, "--domains", "symptoms", "--out", str(tmp_path / "an")])
    err = _error(capsys)
    assert "item 'sym-3', field 'answer'" in err and "followed by its answer is 72 tokens" in err


def test_long_corrupted_prompt_names_the_pair(short_folder, tmp_path, capsys, no_weights):
    pair = {"corrupted_prompt": "z" * 60, "clean_answer": " a", "corrupted_answer": " bcd"}
    f = _file(tmp_path, {"pair": pair})  # 61 + 4 > 64; the clean prompt with its answers fits
    with pytest.raises(SystemExit):
        main(["run", "--model", str(short_folder), "--concepts", f, "--domains", "symptoms", "--out", str(tmp_path / "r")])
    err = _error(capsys)
    assert "item 'sym-3', field 'pair.corrupted_prompt'" in err and "65 tokens" in err


def test_unreadable_model_folder_is_a_model_error(tmp_path, capsys, no_weights):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{not json")
    with pytest.raises(SystemExit):
        main(["run", "--model", str(tmp_path / "m"), "--domains", "age", "--out", str(tmp_path / "r")])
    assert "could not read the config and tokenizer" in _error(capsys)


def test_uncached_hub_id_offline_is_one_clear_error_for_inspection_and_loading(monkeypatch):
    from medmap.errors import ModelError
    from medmap.models import inspect_model, load_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for fn in (inspect_model, load_model):
        with pytest.raises(ModelError, match="not in the local Hugging Face cache.*offline"):
            fn("someorg/not-a-cached-model")
