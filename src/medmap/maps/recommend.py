"""From a knowledge map to the layers at which to act on a model: fine-tune or un-learn a domain.

The rule, fixed in advance (:class:`RecommendOptions` changes every part of it):

1. **Evidence sources.** For each requested domain, each technique the goal uses gives one curve:
   ``unlearn`` uses the causal techniques (saliency, lesion, patching, lens), where intervening on a
   layer changes the domain's answers; ``finetune`` uses those and the geometry (the map's geometry
   metric and, where the run has it, ``probe_acc.<label>``), where the domain is represented.
   The curve of a causal technique is its primary metric's ``M@specific`` rows (the domain's effect
   minus the general-knowledge reference set's) when the run has them; otherwise the raw ``M`` rows,
   and the output says so (``curves="auto"``; ``"specific"`` skips techniques without a specific
   curve, ``"raw"`` always uses the raw ones). Geometry curves are always the raw metric.
2. **Intervals.** Each curve's intervals: the map's own intervals when the map lane was drawn from
   that same metric, else the map's rules applied to the curve (geometry and probe: the window of
   fastest rise; causal: runs at or above the 75th percentile).
3. **Score.** Per layer, ``votes`` = the number of (domain, technique) intervals covering it (each
   technique weighted by ``weights``, default 1); ties are broken by ``effect``, the mean over the same
   sources of the normalised strength of the smoothed curve at that layer (min-max over layers; for a
   rise rule the smoothed first difference: how fast the metric rises there), then by the lower layer.
4. **Budget.** The top ``budget`` layers are recommended. Each lists its reasons: every interval that
   covers it, with the curve's value and CI at that layer.

Pure pandas / numpy: no model is loaded. :func:`peft_config` turns the layers into a PEFT ``LoraConfig``
dict (``peft.LoraConfig(**d)`` accepts it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from medmap.errors import ConfigError, MedmapError
from medmap.maps.layer_map import LayerMap
from medmap.maps.rules import MapRules, fastest_rise, smooth, top_runs
from medmap.techniques import PROBE_SCORES, TABLE as TECHNIQUE_TABLE

GOALS = ("finetune", "unlearn")
CAUSAL = ("saliency", "lesion", "patching", "lens")
REPRESENTED = ("geometry", "probe")
SPECIFIC = "@specific"
COLUMNS = ("rank", "layer", "depth", "votes", "effect", "reasons", "evidence")
"""Columns of a recommendation: ``votes`` (weighted count of covering intervals), ``effect`` (mean
normalised strength, 0-1), ``reasons`` (one line of text), ``evidence`` (a list of dicts, one per
covering interval: domain, technique, metric, curve, start, end, value, ci_low, ci_high, strength)."""

RULE = ("per layer: votes = number of (domain, technique) intervals covering it (specific curves where the run "
        "has M@specific rows, else raw); ties broken by the mean normalised strength of the same curves, then "
        "the lower layer; the top K are recommended")


@dataclass(frozen=True)
class RecommendOptions:
    """How a recommendation is made (see the module docstring for the rule)."""

    budget: int = 4
    """How many layers to recommend (K); 0 ranks every layer."""
    curves: str = "auto"
    """``auto``: a causal technique's ``M@specific`` curve where the run has one, else its raw curve (said
    in the notes); ``specific``: only specific curves (techniques without one are left out); ``raw``:
    always the raw curves."""
    techniques: dict = field(default_factory=lambda: {
        "finetune": REPRESENTED + CAUSAL, "unlearn": CAUSAL})
    """The evidence sources of each goal. ``probe`` is the geometry technique's probe of the map's label
    (``probe_acc.<label>``, or ``probe_r2.<label>`` for a continuous label or a stage within disease)."""
    weights: dict = field(default_factory=dict)
    """Weight of each technique's interval vote (default 1.0 for every technique)."""
    rules: MapRules | None = None
    """The rules that turn a curve into intervals (None: the map's own rules)."""

    def __post_init__(self):
        if isinstance(self.budget, bool) or not isinstance(self.budget, (int, np.integer)) or self.budget < 0:
            raise ConfigError(f"budget must be an integer >= 0 (0 ranks every layer), got {self.budget!r}")
        if self.curves not in ("auto", "specific", "raw"):
            raise ConfigError(f"curves must be auto, specific or raw, got {self.curves!r}")
        for goal in self.techniques:
            if goal not in GOALS:
                raise ConfigError(f"techniques: unknown goal {goal!r}; goals: {', '.join(GOALS)}")
        for t, w in self.weights.items():
            if not isinstance(w, (int, float)) or not np.isfinite(w) or w < 0:
                raise ConfigError(f"weights: the weight of {t!r} must be a finite number >= 0, got {w!r}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["techniques"] = {k: list(v) for k, v in self.techniques.items()}
        d["rules"] = self.rules.to_dict() if self.rules is not None else None
        return d


@dataclass(frozen=True)
class Source:
    """One curve that votes: (domain, technique) with the metric read and how its intervals came."""

    domain: str
    technique: str
    metric: str
    curve: str
    """``specific``, ``raw`` (a causal technique without specific rows) or ``geometry``."""
    rule: str
    """``rise`` or ``runs``."""
    values: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    intervals: list
    strength: np.ndarray


def _curve(scores: pd.DataFrame, domain: str, technique: str, metric: str, n: int):
    rows = scores[(scores["domain"] == domain) & (scores["technique"] == technique) & (scores["metric"] == metric)]
    out = []
    for col in ("value", "ci_low", "ci_high"):
        arr = np.full(n, np.nan)
        if col in rows:
            arr[rows["layer"].astype(int).to_numpy()] = pd.to_numeric(rows[col], errors="coerce").to_numpy(float)
        out.append(arr)
    return out if len(rows) else None


def _base_metric(lmap: LayerMap, domain: str, technique: str) -> str | None:
    """The map lane's metric without its control suffix, else the technique table's primary metric."""
    lane = lmap.table[(lmap.table["domain"] == domain) & (lmap.table["technique"] == technique)]
    if len(lane):
        return str(lane["metric"].iloc[0]).split("@")[0]
    info = TECHNIQUE_TABLE.get(technique)
    if info is not None and info.primary_metric:
        return info.primary_metric
    return {"lens": "lens_logprob"}.get(technique)


def _strength(values: np.ndarray, rule: str, sigma: float) -> np.ndarray:
    s = smooth(values, sigma)
    if rule == "rise":
        s = np.gradient(s) if s.size > 1 else np.zeros_like(s)
    finite = np.isfinite(s)
    out = np.zeros_like(s)
    if finite.any() and np.ptp(s[finite]) > 0:
        out[finite] = (s[finite] - s[finite].min()) / np.ptp(s[finite])
    return out


def _sources(lmap: LayerMap, scores: pd.DataFrame, domain: str, techniques, opts: RecommendOptions,
             rules: MapRules, n: int, notes: list[str]) -> list[Source]:
    out = []
    present = set(scores.loc[scores["domain"] == domain, "technique"])
    for t in techniques:
        tech = "geometry" if t == "probe" else t
        if tech not in present:
            continue
        base = _base_metric(lmap, domain, tech)
        if base is None:
            continue
        if t == "probe":
            label = base.split(".", 1)[1] if "." in base else ""
            have = set(scores.loc[scores["domain"] == domain, "metric"].astype(str))
            metric = next((m for m in (f"{p}.{label}" for p in PROBE_SCORES) if m in have), f"probe_acc.{label}")
            kind, rule = "geometry", "rise"
        elif t == "geometry":
            metric, kind, rule = base, "geometry", "rise"
        else:
            rule = TECHNIQUE_TABLE[t].interval_rule if t in TECHNIQUE_TABLE else "runs"
            has_specific = _curve(scores, domain, t, base + SPECIFIC, n) is not None
            if opts.curves == "raw" or (opts.curves == "auto" and not has_specific):
                metric, kind = base, "raw"
                if opts.curves == "auto":
                    notes.append(f"{domain} {t}: no {base}{SPECIFIC} rows in this run; the raw {base} curve is "
                                 "used (not specific to the domain: layers every task needs can rank high)")
            elif has_specific:
                metric, kind = base + SPECIFIC, "specific"
            else:
                notes.append(f"{domain} {t}: no {base}{SPECIFIC} rows; left out (curves='specific')")
                continue
        curve = _curve(scores, domain, tech, metric, n)
        if curve is None:
            if t == "probe":
                continue
            notes.append(f"{domain} {t}: no {metric} rows; left out")
            continue
        values, lo, hi = curve
        lane = lmap.table[(lmap.table["domain"] == domain) & (lmap.table["technique"] == tech)]
        if t != "probe" and len(lane) and str(lane["metric"].iloc[0]) == metric and opts.rules is None:
            ivs = [(int(i["start"]), int(i["end"])) for i in lmap.intervals
                   if i["domain"] == domain and i["technique"] == tech]
        else:
            ivs = fastest_rise(values, rules) if rule == "rise" else top_runs(values, rules)
        out.append(Source(domain, t, metric, kind, rule, values, lo, hi, ivs, _strength(values, rule, rules.sigma)))
    return out


def _fmt(x: float) -> str:
    return "nan" if not np.isfinite(x) else f"{x:.3g}"


def recommend(lmap: LayerMap, scores: pd.DataFrame, goal: str, domains=None,
              options: RecommendOptions | None = None, **overrides) -> pd.DataFrame:
    """Rank the decoder layers of a one-model map for ``goal`` (``finetune`` or ``unlearn``) on
    ``domains`` (default: every domain of the map) by the rule of this module. ``overrides`` replace
    fields of ``options`` (e.g. ``budget=3``). Returns the top ``budget`` layers (every layer for 0),
    columns :data:`COLUMNS`; ``df.attrs`` holds ``model, n_layers, goal, domains, budget, rule, options,
    sources`` (the curves used) and ``notes`` (what fell back or was left out)."""
    opts = options or RecommendOptions()
    if overrides:
        opts = RecommendOptions(**{**{f: getattr(opts, f) for f in opts.__dataclass_fields__}, **overrides})
    if goal not in GOALS:
        raise ConfigError(f"goal must be one of {', '.join(GOALS)}, got {goal!r}")
    models = lmap.n_layers
    if len(models) != 1:
        raise MedmapError(f"recommend needs the map of one model, this one has {len(models)}: {sorted(models)}")
    model, n = next(iter(models.items()))
    available = list(dict.fromkeys(scores["domain"].astype(str)))
    domains = [d.strip() for d in domains.split(",")] if isinstance(domains, str) else list(domains or available)
    missing = [d for d in domains if d not in available]
    if missing:
        raise MedmapError(f"no domain {', '.join(repr(d) for d in missing)} in this run (domains: {', '.join(available)})")
    if opts.budget > n:
        raise ConfigError(f"budget {opts.budget} is more than the model's {n} decoder layers")
    rules = opts.rules or lmap.rules
    techniques = opts.techniques.get(goal, RecommendOptions().techniques[goal])
    notes: list[str] = []
    sources = [s for d in domains for s in _sources(lmap, scores, d, techniques, opts, rules, n, notes)]
    if not sources:
        raise MedmapError(f"nothing to recommend from: the run has no {'/'.join(techniques)} curves for "
                          f"{', '.join(domains)} (run medmap with --techniques {','.join(t for t in techniques if t != 'probe')})")
    votes, effect = np.zeros(n), np.zeros(n)
    evidence: list[list[dict]] = [[] for _ in range(n)]
    for s in sources:
        w = float(opts.weights.get(s.technique, 1.0))
        effect += s.strength
        for a, b in s.intervals:
            votes[a:b + 1] += w
            for layer in range(a, b + 1):
                evidence[layer].append({"domain": s.domain, "technique": s.technique, "metric": s.metric,
                                        "curve": s.curve, "start": a, "end": b, "value": float(s.values[layer]),
                                        "ci_low": float(s.ci_low[layer]), "ci_high": float(s.ci_high[layer]),
                                        "strength": float(s.strength[layer])})
    effect /= len(sources)
    order = sorted(range(n), key=lambda layer: (-votes[layer], -effect[layer], layer))
    keep = order[:opts.budget] if opts.budget else order
    rows = []
    for rank, layer in enumerate(keep, 1):
        ev = evidence[layer]
        text = "; ".join(f"{e['domain']} {e['technique']} L{e['start']}-{e['end']} ({e['metric']} {_fmt(e['value'])}"
                         + (f" [{_fmt(e['ci_low'])}, {_fmt(e['ci_high'])}]" if np.isfinite(e["ci_low"]) else "")
                         + ")" for e in ev)
        rows.append({"rank": rank, "layer": layer, "depth": layer / n, "votes": float(votes[layer]),
                     "effect": float(effect[layer]),
                     "reasons": text or f"no interval covers it; mean normalised strength {effect[layer]:.2f}",
                     "evidence": ev})
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    df.attrs.update({"model": model, "n_layers": n, "goal": goal, "domains": domains, "budget": opts.budget,
                     "rule": RULE, "options": opts.to_dict(), "notes": notes,
                     "sources": [{"domain": s.domain, "technique": s.technique, "metric": s.metric, "curve": s.curve,
                                  "rule": s.rule, "intervals": [list(i) for i in s.intervals]} for s in sources]})
    return df


def to_records(rec: pd.DataFrame) -> dict:
    """A recommendation as plain JSON-ready values: its ``attrs``, ``layers`` (in rank order) and ``ranking``."""
    ranking = []
    for r in rec.to_dict(orient="records"):
        ranking.append({k: (int(v) if k in ("rank", "layer") else v) for k, v in r.items()})
    return {**{k: rec.attrs.get(k) for k in ("model", "n_layers", "goal", "domains", "budget", "rule", "notes",
                                             "sources", "options")},
            "layers": [int(x) for x in rec["layer"]], "ranking": ranking}


def peft_config(layers, target_modules, layers_pattern: str | None = None, *, r: int = 8,
                lora_alpha: int = 16, lora_dropout: float = 0.05) -> dict:
    """A PEFT ``LoraConfig`` as a JSON-ready dict: LoRA on ``target_modules`` of decoder ``layers`` only
    (``layers_to_transform``, sorted). ``peft.LoraConfig(**d)`` accepts it."""
    layers = sorted({int(x) for x in layers})
    if not layers:
        raise MedmapError("a PEFT config needs at least one layer")
    if not target_modules:
        raise MedmapError("a PEFT config needs target modules (the architecture table's lora_targets)")
    d = {"task_type": "CAUSAL_LM", "r": int(r), "lora_alpha": int(lora_alpha), "lora_dropout": float(lora_dropout),
         "bias": "none", "target_modules": list(target_modules), "layers_to_transform": layers}
    if layers_pattern:
        d["layers_pattern"] = layers_pattern
    return d


def lora_targets_of(provenance, config) -> tuple[str | None, list[str]]:
    """(``layers_pattern``, ``target_modules``) of a LoRA adapter on a run's model: from its provenance
    (``architecture``), else the architecture table entry of the model type its config names."""
    prov = provenance if isinstance(provenance, dict) else {}
    arch = prov.get("architecture") or {}
    if arch.get("lora_targets"):
        return arch.get("layers_pattern"), list(arch["lora_targets"])
    mtype = arch.get("model_type")
    if mtype is None:
        spec = config.get("model") if isinstance(config, dict) else getattr(config, "model", None)
        if not spec:
            raise MedmapError("this map does not say which model it is of (no config.json or provenance."
                              "json); name the LoRA target modules yourself (target_modules=[...])")
        from medmap.models.context import model_type

        mtype = model_type(spec)
    from medmap.models.registry import lora_targets

    pattern, targets = lora_targets(mtype)
    return pattern, list(targets)
