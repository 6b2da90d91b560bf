"""The optional LLM-judge lesion measure: lesioned generation, rubric parsing, judges, the score frame."""

import json
import math
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest
from tiny import tiny_model

from medmap.analyses.judge import (RUBRIC, JudgeOptions, LocalJudge, OpenAIJudge, judge_lesions, parse_score,
                                   rubric_prompt)
from medmap.capture import attached_hooks
from medmap.capture.generate import generate_lesioned
from medmap.concepts.schema import ConceptItem
from medmap.concepts.sets import ConceptSet
from medmap.errors import CaptureError, ConfigError, MedmapError

PROMPTS = ["The first-line drug for type 2 diabetes is", "Chest pain points to the", "A 17-year-old is"]


def _plain_greedy(lm, prompt, n):
    ids = lm.tokenizer(prompt, return_tensors="pt")
    out = lm.model.generate(**ids, max_new_tokens=n, do_sample=False, pad_token_id=lm.tokenizer.pad_token_id)
    return lm.tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)


def _concepts(n=5):
    items = tuple(ConceptItem(id=f"d{i}", domain="drugs", prompt=f"Drug number {i} treats", labels={"k": i},
                              answer=" pain") for i in range(n))
    items += (ConceptItem(id="unanswered", domain="drugs", prompt="No answer here", labels={"k": 9}),)
    return ConceptSet("drugs", items, "test")


# --- generation ----------------------------------------------------------------------------------------

def test_intact_generation_equals_plain_greedy(tiny_llama):
    got = generate_lesioned(tiny_llama, PROMPTS, None, max_new_tokens=6)
    assert got == [_plain_greedy(tiny_llama, p, 6) for p in PROMPTS]
    assert all(isinstance(s, str) and s for s in got)


def test_lesioned_generation_returns_strings_and_leaves_no_hook(tiny_llama):
    intact = generate_lesioned(tiny_llama, PROMPTS, None, max_new_tokens=6)
    changed = False
    for layer in range(tiny_llama.n_layers):
        got = generate_lesioned(tiny_llama, PROMPTS, layer, max_new_tokens=6, batch_size=2)
        assert len(got) == len(PROMPTS) and all(isinstance(s, str) for s in got)
        changed |= got != intact
        assert attached_hooks(tiny_llama.model) == []
    assert changed  # some lesion changes some continuation of the random model


def test_lesion_hook_is_removed_when_generation_fails(tiny_llama, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("generation failed")

    monkeypatch.setattr(tiny_llama.model, "generate", boom)
    with pytest.raises(RuntimeError):
        generate_lesioned(tiny_llama, PROMPTS, 1)
    monkeypatch.undo()
    assert attached_hooks(tiny_llama.model) == []


def test_generation_rejects_bad_layer(tiny_llama):
    for bad in (-1, tiny_llama.n_layers):
        with pytest.raises(CaptureError, match="decoder layers 0..3"):
            generate_lesioned(tiny_llama, PROMPTS, bad)
    assert generate_lesioned(tiny_llama, [], 0) == []


# --- rubric --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("reply, want", [
    ("7", 7.0), ("Score: 10/10", 10.0), (" 8.", 8.0), ("I would rate it 3 out of 10", 3.0), ("1", 1.0),
    ("none", math.nan), ("", math.nan), (None, math.nan),
    ("11", math.nan), ("0", math.nan), ("7.5", math.nan), ("-3", math.nan),  # out of range: NaN, not clipped
])
def test_parse_score(reply, want):
    got = parse_score(reply)
    assert (math.isnan(got) and math.isnan(want)) or got == want


def test_rubric_shows_question_and_both_answers():
    p = rubric_prompt("Q?", " intact text ", "")
    assert "Q?" in p and "intact text" in p and "(empty)" in p and "1 to 10" in RUBRIC


# --- judge_lesions -------------------------------------------------------------------------------------

class FakeJudge:
    """Scores by layer call order: the n-th call of each layer gets the layer's fixed score."""

    def __init__(self, n_items, per_layer):
        self.n_items, self.per_layer, self.calls = n_items, per_layer, []

    def score(self, question, intact, lesioned):
        self.calls.append((question, intact, lesioned))
        return self.per_layer[(len(self.calls) - 1) // self.n_items]


def test_kind_none_raises(tiny_llama):
    with pytest.raises(MedmapError, match="the judge is off"):
        judge_lesions(tiny_llama, _concepts(), JudgeOptions(), judge=FakeJudge(1, [1.0]))
    with pytest.raises(ConfigError):
        JudgeOptions(kind="gpt")


def test_fake_judge_drives_the_frame(tiny_llama):
    cs = _concepts(5)
    per_layer = [10.0, 4.0, math.nan, 7.0]
    fake = FakeJudge(3, per_layer)
    steps = []
    df, recs = judge_lesions(tiny_llama, cs, JudgeOptions(kind="local", max_items=3, max_new_tokens=4, n_boot=50),
                             judge=fake, on_step=steps.append)
    js = df[df.metric == "judge_score"].sort_values("layer")
    assert list(js.layer) == [0, 1, 2, 3]
    assert (js.technique == "lesion").all() and (js.domain == "drugs").all() and (js.n_layers == 4).all()
    np.testing.assert_allclose(js.value.to_numpy(), per_layer)
    un = df[df.metric == "judge_unparsed"].sort_values("layer")
    assert list(un.value) == [0, 0, 3, 0]
    assert steps == [3] * 5
    assert len(recs) == 12 and {r["layer"] for r in recs} == {0, 1, 2, 3}
    assert {r["id"] for r in recs} <= {f"d{i}" for i in range(5)}
    assert set(recs[0]) >= {"id", "layer", "intact", "lesioned", "score"}
    # intact answers are the same for every layer and equal the intact generation
    intact = generate_lesioned(tiny_llama, [r["question"] for r in recs[:3]], None, 4)
    assert [r["intact"] for r in recs[:3]] == intact == [r["intact"] for r in recs[9:]]
    assert [c[0] for c in fake.calls[:3]] == [r["question"] for r in recs[:3]]


def test_layer_subset_keeps_layer_numbers(tiny_llama):
    df, recs = judge_lesions(tiny_llama, _concepts(2), JudgeOptions(kind="local", layers=(3, 1), max_new_tokens=2),
                             judge=FakeJudge(2, [5.0, 6.0]))
    js = df[df.metric == "judge_score"]
    assert dict(zip(js.layer, js.value)) == {3: 5.0, 1: 6.0}
    with pytest.raises(ConfigError, match="outside"):
        judge_lesions(tiny_llama, _concepts(2), JudgeOptions(kind="local", layers=(4,)), judge=FakeJudge(2, [1.0]))


def test_local_judge_with_a_tiny_model(tiny_llama):
    judge = LocalJudge(tiny_model("llama", seed=1))
    df, recs = judge_lesions(tiny_llama, _concepts(2), JudgeOptions(kind="local", layers=(0,), max_new_tokens=2),
                             judge=judge)
    # a random model does not follow the rubric: its replies are kept for audit and counted as unparsable
    assert all(isinstance(r["reply"], str) for r in recs)
    n_nan = sum(math.isnan(r["score"]) for r in recs)
    assert df[df.metric == "judge_unparsed"].value.tolist() == [n_nan]
    assert attached_hooks(judge.lm.model) == []


# --- OpenAI-compatible endpoint ----------------------------------------------------------------------

def _serve_once(response: bytes, status: int = 200):
    """A one-request HTTP server on 127.0.0.1 in a daemon thread; it stops after one request or 10 s."""
    seen = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            seen["path"] = self.path
            seen["auth"] = self.headers.get("Authorization")
            seen["body"] = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(response)))
            self.end_headers()
            self.wfile.write(response)

        def log_message(self, *a):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    server.timeout = 10

    def run():
        try:
            server.handle_request()
        finally:
            server.server_close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return f"http://127.0.0.1:{server.server_address[1]}/v1", seen, t


def test_openai_judge_against_a_local_server(monkeypatch):
    canned = json.dumps({"id": "x", "object": "chat.completion",
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": "Score: 6"},
                                      "finish_reason": "stop"}]}).encode()
    url, seen, t = _serve_once(canned)
    monkeypatch.setenv("MEDMAP_TEST_JUDGE_KEY", "sk-test")
    judge = OpenAIJudge(url + "/", "judge-model", api_key_env="MEDMAP_TEST_JUDGE_KEY", timeout_s=10)
    assert judge.score("What treats pain?", "aspirin", "asp") == 6.0
    t.join(10)
    assert seen["path"] == "/v1/chat/completions"
    assert seen["auth"] == "Bearer sk-test"
    assert seen["body"]["model"] == "judge-model" and seen["body"]["temperature"] == 0
    msg = seen["body"]["messages"]
    assert len(msg) == 1 and msg[0]["role"] == "user" and "What treats pain?" in msg[0]["content"]
    assert judge.last_reply == "Score: 6"


def test_openai_judge_without_key_sends_no_header(monkeypatch):
    canned = json.dumps({"choices": [{"message": {"content": "eleven"}}]}).encode()
    url, seen, t = _serve_once(canned)
    monkeypatch.delenv("MEDMAP_TEST_JUDGE_KEY", raising=False)
    judge = OpenAIJudge(url, "m", api_key_env="MEDMAP_TEST_JUDGE_KEY", timeout_s=10)
    assert math.isnan(judge.score("q", "a", "b"))
    t.join(10)
    assert seen["auth"] is None


def test_openai_judge_http_error_names_the_url():
    url, _, t = _serve_once(b'{"error": "no such model"}', status=404)
    judge = OpenAIJudge(url, "m", timeout_s=10)
    with pytest.raises(MedmapError, match=r"127\.0\.0\.1.*/v1/chat/completions.*HTTP 404"):
        judge.score("q", "a", "b")
    t.join(10)


def test_openai_judge_connection_refused_names_the_url():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    judge = OpenAIJudge(f"http://127.0.0.1:{port}/v1", "m", timeout_s=5)
    where = rf"cannot reach the judge endpoint http://127\.0\.0\.1:{port}/v1/chat/completions"
    with pytest.raises(MedmapError, match=where):
        judge.score("q", "a", "b")


def test_openai_judge_needs_http_url_and_model():
    with pytest.raises(ConfigError):
        OpenAIJudge("file:///etc/passwd", "m")
    with pytest.raises(ConfigError):
        OpenAIJudge("http://127.0.0.1:1/v1", "")
    with pytest.raises(ConfigError, match="needs a URL"):
        from medmap.analyses.judge import make_judge
        make_judge(JudgeOptions(kind="openai", model="m"))
