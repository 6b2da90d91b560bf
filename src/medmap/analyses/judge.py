"""Optional LLM-judge measure of layer lesioning (off by default).

The paper had GPT-4o rate, on a 1-10 scale, how much a model's answer degrades when one decoder layer
is replaced by the identity, against the intact model's answer. medmap's default lesion measures are
automatic and offline (log-probability drop, KL, accuracy; ``medmap.analyses.causal.lesion``); this
module adds the judge as a plug-in:

* ``JudgeOptions(kind="local", model=SPEC)``: a local medmap model (any spec ``load_model`` accepts)
  greedily writes the judge's reply;
* ``JudgeOptions(kind="openai", url=..., model=...)``: an OpenAI-compatible chat-completions endpoint
  the user names (a local vLLM / llama.cpp server or a hosted API). The key is read from the
  environment variable named by ``api_key_env`` and never written to configs or outputs;
* any object with ``score(question, intact, lesioned) -> float`` passed as ``judge=``.

Nothing is contacted and no model is loaded unless the user configures a judge. Scores read: 10 = the
lesioned answer is as good as the intact one, 1 = nonsense; low scores therefore mark the layers whose
removal hurts (the opposite direction of ``logprob_drop``)."""

from __future__ import annotations

import json
import math
import os
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import Annotated, Callable, Literal, Protocol

import numpy as np
import pandas as pd
from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from medmap.analyses.causal import sample
from medmap.analyses.stats import frame, per_unit_curves
from medmap.capture.generate import generate_lesioned
from medmap.errors import ConfigError, MedmapError
from medmap.options import MAX_SEED, Float, Int, Str, options

KINDS = ("none", "local", "openai")


@options(name="judge")
class JudgeOptions:
    kind: Literal[KINDS] = "none"
    """none (the default: no judge, nothing is called), local (a medmap model judges) or openai (an
    OpenAI-compatible chat-completions endpoint judges)."""
    model: Str | None = None
    """For local: the judge model's medmap spec (loaded with ``medmap.models.load_model``); for openai:
    the model name sent to the endpoint."""
    url: Str | None = None
    """For openai: the endpoint's base URL, e.g. http://localhost:8000/v1 (``/chat/completions`` is
    appended). Required; there is no built-in default endpoint. Never with a user name or password in
    it (``user:key@host``): the key comes from the environment only (``api_key_env``)."""
    api_key_env: Str = "OPENAI_API_KEY"
    """Name of the environment variable holding the API key (sent as ``Authorization: Bearer``).
    The key itself never goes into configuration files or outputs; unset = no header."""
    max_items: Int = Field(16, ge=0)
    """At most this many answered items per domain are judged (seeded sample; 0 = all)."""
    layers: tuple[Annotated[Int, Field(ge=0)], ...] | None = None
    """Decoder layers to lesion one at a time; None = all. Each costs one generation per item and one
    judge call per item."""
    max_new_tokens: Int = Field(32, ge=1)
    """Tokens generated for each intact and lesioned answer (greedy)."""
    timeout_s: Float = Field(60, gt=0)
    """For openai: seconds to wait for one judge reply before giving up with an error."""
    seed: Int = Field(0, ge=0, le=MAX_SEED)
    """Seed of the item sample and of the bootstrap."""
    n_boot: Int = Field(200, ge=0)
    """Bootstrap resamples for the CI of the mean judge score (over items)."""

    @field_validator("url")
    @classmethod
    def _url_without_credentials(cls, url: str | None) -> str | None:
        if url is None:
            return url
        if has_credentials(url):
            raise PydanticCustomError("credentials", "must not contain a user name or password (user:key@); "
                                      "put the key in the environment variable named by api_key_env")
        if not url.lower().startswith(("http://", "https://")):
            raise PydanticCustomError("url_scheme", "must start with http:// or https://")
        return url


def has_credentials(url: str) -> bool:
    """Whether ``url`` carries a user name or password (``scheme://user:key@host``)."""
    try:
        parts = urllib.parse.urlsplit(url)
        return bool(parts.username or parts.password) or "@" in parts.netloc
    except ValueError:
        return "@" in url


def redact_url(url: str | None) -> str:
    """``url`` for messages: any ``user:key@`` replaced by ``***@``."""
    if not url:
        return repr(url)
    return re.sub(r"(?<=://)[^/@]*@", "***@", str(url))


RUBRIC = """You are grading how much a language model's answer has degraded after part of the model was \
removed. You see a question, the answer of the intact model, and the answer of the damaged model. Rate \
the damaged answer against the intact answer on a scale from 1 to 10:
10 = as good as the intact answer (same content and quality, wording may differ)
7-9 = minor degradation (mostly the same content, small errors or less fluent)
4-6 = clear degradation (partly wrong, off-topic or badly formed, but still related)
2-3 = severe degradation (mostly wrong or barely related)
1 = nonsense, empty, or unrelated to the question
Judge only the degradation relative to the intact answer, not whether the intact answer is correct.

Question: {question}

Intact answer: {intact}

Damaged answer: {lesioned}

Reply with a single integer from 1 to 10 and nothing else.
Score:"""
"""The judge's prompt (format fields ``question``, ``intact``, ``lesioned``), after the paper's GPT-4o
rating of degradation 1-10 against the intact model's answer. The reply is read by ``parse_score``."""

_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)?")


def parse_score(reply: str | None) -> float:
    """The judge's score from its reply: the first number in it, if that is an integer 1..10.

    ``"7"`` -> 7, ``"Score: 10/10"`` -> 10, ``"8."`` -> 8. Anything else is NaN (counted as unparsable
    by ``judge_lesions``): no number (``"none"``), or a first number outside 1..10 or not whole
    (``"11"``, ``"0"``, ``"7.5"``). Out-of-range values are *not* clipped: a judge that does not follow
    the rubric should show up as unparsable replies, not as extreme scores."""
    if not reply:
        return float("nan")
    m = _NUMBER.search(reply)
    if m is None:
        return float("nan")
    try:
        v = float(m.group(0).replace(",", "."))
    except ValueError:
        return float("nan")
    if v != int(v) or not 1 <= v <= 10:
        return float("nan")
    return float(v)


def rubric_prompt(question: str, intact: str, lesioned: str) -> str:
    return RUBRIC.format(question=question.strip(), intact=intact.strip() or "(empty)",
                         lesioned=lesioned.strip() or "(empty)")


class Judge(Protocol):
    def score(self, question: str, intact: str, lesioned: str) -> float:
        """1..10 (10 = as good as intact) or NaN when the reply could not be read."""


class _ReplyJudge:
    """A judge that writes a text reply to the rubric prompt; the score is parsed from it."""

    last_reply: str | None = None
    """The raw text of the latest reply (kept in ``judge_lesions``'s audit records)."""

    def reply(self, prompt: str) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def score(self, question: str, intact: str, lesioned: str) -> float:
        self.last_reply = self.reply(rubric_prompt(question, intact, lesioned))
        return parse_score(self.last_reply)


class LocalJudge(_ReplyJudge):
    """A local medmap model (``LoadedModel``) as the judge: greedy reply of up to ``max_new_tokens``."""

    def __init__(self, lm_judge, max_new_tokens: int = 8):
        self.lm = lm_judge
        self.max_new_tokens = max_new_tokens

    def reply(self, prompt: str) -> str:
        return generate_lesioned(self.lm, [prompt], None, max_new_tokens=self.max_new_tokens)[0]


class OpenAIJudge(_ReplyJudge):
    """An OpenAI-compatible chat-completions endpoint as the judge (standard library HTTP, temperature 0)."""

    def __init__(self, url: str, model: str, api_key_env: str = "OPENAI_API_KEY", timeout_s: float = 60):
        if url and has_credentials(url):
            raise ConfigError(f"the judge URL {redact_url(url)} must not contain a user name or password; put the "
                              f"key in the environment variable named by api_key_env ({api_key_env})")
        if not url or not url.lower().startswith(("http://", "https://")):
            raise ConfigError(f"the judge URL must start with http:// or https://, not {redact_url(url)}")
        if not model:
            raise ConfigError("the OpenAI-compatible judge needs a model name (judge model)")
        self.url = url.rstrip("/")
        self.endpoint = self.url + "/chat/completions"
        self.model = model
        self.api_key_env = api_key_env
        self.timeout_s = timeout_s

    def reply(self, prompt: str) -> str:
        body = json.dumps({"model": self.model, "messages": [{"role": "user", "content": prompt}],
                           "temperature": 0}).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        req = urllib.request.Request(self.endpoint, data=body, headers=headers, method="POST")
        where = f"the judge endpoint {self.endpoint}"
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            detail = ""
            try:
                detail = e.read(300).decode("utf-8", "replace").strip()
            except Exception:  # noqa: BLE001 - the status code is the message; the body is a bonus
                pass
            hint = f" (is the key in ${self.api_key_env} right?)" if e.code in (401, 403) else ""
            raise MedmapError(f"{where} answered HTTP {e.code} {e.reason}" + (f": {detail}" if detail else "")
                              + hint) from None
        except (socket.timeout, TimeoutError) as e:
            raise MedmapError(f"{where} did not answer within {self.timeout_s} s ({e})") from None
        except urllib.error.URLError as e:
            if isinstance(e.reason, (socket.timeout, TimeoutError)):
                raise MedmapError(f"{where} did not answer within {self.timeout_s} s") from None
            raise MedmapError(f"cannot reach {where}: {e.reason}; is the server running and the URL right?") from None
        except OSError as e:
            raise MedmapError(f"cannot reach {where}: {e}") from None
        try:
            data = json.loads(raw.decode("utf-8"))
            content = data["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError, UnicodeDecodeError):
            raise MedmapError(f"{where} did not return a chat completion (expected JSON with "
                              f"choices[0].message.content): {raw[:200]!r}") from None
        return "" if content is None else str(content)


def make_judge(options: JudgeOptions) -> Judge:
    """The judge ``options`` configure (loads the local judge model; contacts nothing yet)."""
    if options.kind == "none":
        raise MedmapError("the judge is off; set the judge kind to 'local' (with a judge model) or 'openai' "
                          "(with a URL and model name) to score lesions with an LLM judge")
    if options.kind == "local":
        if not options.model:
            raise ConfigError("the local judge needs a model spec (judge model), e.g. a bundled model name")
        from medmap.models import load_model

        return LocalJudge(load_model(options.model))
    if not options.url:
        raise ConfigError("the OpenAI-compatible judge needs a URL (judge url), e.g. http://localhost:8000/v1")
    return OpenAIJudge(options.url, options.model or "", options.api_key_env, options.timeout_s)


def judge_lesions(lm, cs, options: JudgeOptions, judge: Judge | None = None,
                  on_step: Callable[[int], None] | None = None) -> tuple[pd.DataFrame, list[dict]]:
    """Judge-rated degradation of each lesioned layer, averaged over a seeded sample of answered items.

    Intact answers are generated once; for each layer in ``options.layers`` (None = all) the answers with
    that layer lesioned are generated and the judge scores each against the intact one. Returns

    * a tidy frame (technique ``lesion``) with per layer the metric ``judge_score`` (mean over items with
      a parsable score, bootstrap CI over items) and ``judge_unparsed`` (number of items whose reply
      could not be read as 1..10; no CI);
    * audit records, one per (item, layer): ``id``, ``layer``, ``question``, ``intact``, ``lesioned``,
      ``score`` (NaN if unparsable) and, for judges that write text, ``reply``.

    ``on_step(n)`` is called with the number of items after the intact pass and after each layer
    (``n_items * (n_layers + 1)`` in all). Raises ``MedmapError`` when the judge is off."""
    if options.kind == "none":
        raise MedmapError("the judge is off; set the judge kind to 'local' (with a judge model) or 'openai' "
                          "(with a URL and model name) to score lesions with an LLM judge")
    layers = list(range(lm.n_layers)) if options.layers is None else list(options.layers)
    bad = [l for l in layers if not 0 <= l < lm.n_layers]
    if bad:
        raise ConfigError(f"judge layers {bad} are outside 0..{lm.n_layers - 1} of '{lm.name}'")
    items = sample(cs.answered, options.max_items, options.seed)
    if not items:
        raise MedmapError(f"domain '{cs.domain}' has no items with a reference answer to judge")
    if judge is None:
        judge = make_judge(options)
    prompts = [it.prompt for it in items]
    intact = generate_lesioned(lm, prompts, None, options.max_new_tokens)
    if on_step:
        on_step(len(items))
    scores = np.full((len(items), len(layers)), np.nan)
    records: list[dict] = []
    for j, layer in enumerate(layers):
        lesioned = generate_lesioned(lm, prompts, layer, options.max_new_tokens)
        for i, (it, a, b) in enumerate(zip(items, intact, lesioned)):
            s = float(judge.score(it.prompt, a, b))
            s = s if math.isfinite(s) else float("nan")
            scores[i, j] = s
            rec = {"id": it.id, "layer": layer, "question": it.prompt, "intact": a, "lesioned": b, "score": s}
            if hasattr(judge, "last_reply"):
                rec["reply"] = judge.last_reply
            records.append(rec)
        if on_step:
            on_step(len(items))
    rows = per_unit_curves(scores, "judge_score", options.n_boot, options.seed)
    unparsed = np.isnan(scores).sum(0)
    rows += [{"metric": "judge_unparsed", "layer": j, "value": float(unparsed[j]),
              "ci_low": float("nan"), "ci_high": float("nan")} for j in range(len(layers))]
    for r in rows:  # per_unit_curves numbers columns 0..k-1: map them back to the lesioned layers
        r["layer"] = layers[r["layer"]]
    df = frame(rows, model=lm.name, n_layers=lm.n_layers, domain=cs.domain, technique="lesion")
    return df, records
