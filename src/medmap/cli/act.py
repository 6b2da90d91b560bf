"""Commands that act on a finished map: ``medmap recommend`` (layers to fine-tune or un-learn, with a PEFT
export) and ``medmap compare --diff`` (what fine-tuning changed). Thin calls of :mod:`medmap.api`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from medmap.cli.progress import console, note
from medmap.errors import ConfigError


def _split(value: Optional[str]) -> Optional[list[str]]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _parse_weights(value: Optional[str]) -> dict:
    out = {}
    for part in _split(value) or []:
        name, sep, w = part.partition("=")
        try:
            out[name.strip()] = float(w)
        except ValueError:
            raise ConfigError(f"--weights: '{part}' is not TECHNIQUE=NUMBER") from None
        if not sep:
            raise ConfigError(f"--weights: '{part}' is not TECHNIQUE=NUMBER")
    return out


def recommend(
    run_dir: Path = typer.Argument(..., help="A finished run folder."),
    goal: str = typer.Option(..., "--goal", help="finetune | unlearn"),
    domains: Optional[str] = typer.Option(None, "--domains", help="Comma-separated domains (default: all of the run)."),
    budget: int = typer.Option(4, "--budget", help="How many layers to recommend (K); 0 ranks every layer."),
    fmt: str = typer.Option("table", "--format", help="table | json | yaml | peft (a PEFT LoraConfig as JSON)."),
    curves: str = typer.Option("auto", "--curves", help="auto (M@specific where the run has it, else raw) | "
                                                      "specific | raw."),
    weights: Optional[str] = typer.Option(None, "--weights", help="Vote weight per technique, e.g. lesion=2,saliency=0.5."),
    lora_r: int = typer.Option(8, "--lora-r", help="--format peft: LoRA rank."),
    lora_alpha: int = typer.Option(16, "--lora-alpha", help="--format peft: LoRA alpha."),
    lora_dropout: float = typer.Option(0.05, "--lora-dropout", help="--format peft: LoRA dropout."),
    target_modules: Optional[str] = typer.Option(None, "--target-modules",
                                                 help="--format peft: comma-separated module names (default: the "
                                                      "architecture table's lora_targets)."),
):
    """Recommend the layers at which to fine-tune or un-learn domains, with the reasons for each."""
    from medmap.api import load
    from medmap.maps.recommend import to_records

    if fmt not in ("table", "json", "yaml", "peft"):
        raise ConfigError(f"--format must be table, json, yaml or peft, got '{fmt}'")
    km = load(run_dir)
    rec = km.recommend(goal, _split(domains), budget, curves=curves, weights=_parse_weights(weights))
    if fmt == "peft":
        cfg = km.to_peft(rec, r=lora_r, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
                         target_modules=_split(target_modules))
        print(json.dumps(cfg, indent=2))
        for msg in rec.attrs["notes"]:
            note(f"note: {msg}")
        return
    if fmt in ("json", "yaml"):
        doc = _plain(to_records(rec))
        if fmt == "json":
            print(json.dumps(doc, indent=2))
        else:
            import yaml

            print(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), end="")
        return
    from rich.table import Table
    from rich.text import Text

    a = rec.attrs
    t = Table("rank", "layer", "votes", "effect", "why", title=Text(
        f"{a['model']}: layers to {goal} {', '.join(a['domains'])} (budget {a['budget'] or 'all'})"))
    for r in rec.itertuples(index=False):
        t.add_row(str(r.rank), f"L{r.layer}", f"{r.votes:g}", f"{r.effect:.2f}", Text(r.reasons))
    console.print(t)
    console.print(Text(f"rule: {a['rule']}"))
    for msg in a["notes"]:
        console.print(Text(f"note: {msg}", style="dim"))


def _plain(obj):
    """JSON/YAML-ready: NaN and infinities become null, numpy scalars plain numbers."""
    import math

    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def compare_diff(run_dirs: list[Path], out: Path) -> None:
    """``medmap compare --diff A B --out DIR``."""
    from rich.text import Text

    from medmap.api import load

    if len(run_dirs) != 2:
        raise ConfigError(f"compare --diff takes two run folders (A B), got {len(run_dirs)}")
    a, b = (load(p) for p in run_dirs)
    res = a.diff(b, out=out)
    moved = res["intervals"]
    console.print(Text(f"{res['a']} -> {res['b']}: {len(res['diff'])} per-layer differences, "
                       f"{int(moved['moved'].sum())} of {len(moved)} map lanes moved, CKA for "
                       f"{res['cka']['domain'].nunique()} domain(s)"))
    for r in moved[moved["moved"]].itertuples(index=False):
        console.print(Text(f"  moved: {r.domain} {r.technique} {r.a} -> {r.b} (Jaccard {r.jaccard:.2f})"))
    for msg in res["notes"]:
        console.print(Text(f"note: {msg}", style="dim"))
    for name, path in res.get("files", {}).items():
        if name.endswith(".svg"):
            continue
        console.print(Text(f"{name}: {path}"))
