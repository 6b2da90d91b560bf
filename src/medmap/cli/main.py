"""medmap's command line. Every command is a thin call into the library."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from medmap.cli.progress import console, note, task
from medmap.errors import MedmapError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Knowledge maps of LLMs for medical concepts (age, symptoms, diseases, progression, "
                       "drugs, dosage).")
_STATE = {"debug": False}
_DTYPE_HELP = "float32 | bfloat16 | float16 (bfloat16 on GPU halves memory)."
_DEVICE_MAP_HELP = ("accelerate device map for models larger than one device: auto | balanced | sequential | a "
                    "device (cuda:0, cpu) | JSON {\"module\": \"cuda:0\" | \"cpu\" | \"disk\"}.")
_MAX_MEMORY_HELP = "Memory per device for the device map, e.g. 0=20GiB,cpu=60GiB (implies --device-map auto)."
_OFFLOAD_HELP = "Folder for the weights the device map places on disk."


def _placement(dtype, device_map, max_memory, offload_folder) -> dict:
    return {"dtype": dtype, "device_map": device_map, "max_memory": max_memory,
            "offload_folder": str(offload_folder) if offload_folder else None}


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors.")):
    _STATE["debug"] = debug


def _split(value: Optional[str]) -> Optional[list[str]]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


@app.command()
def models(as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """List the bundled models, their shape, and whether their converted weights are cached."""
    from medmap.models import describe_bundled

    rows = describe_bundled()
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    t = Table("name", "layers", "hidden", "installed", "cached", "description")
    for r in rows:
        t.add_row(r["name"] + (" (default)" if r["default"] else ""), str(r["layers"]), str(r["hidden_size"]),
                  "yes" if r["installed"] else "no", "yes" if r["cached"] else "no", r["description"])
    console.print(t)


@app.command()
def concepts(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per set."),
    export: Optional[List[str]] = typer.Option(None, "--export", help="DOMAIN FILE: write a built-in set as JSONL.",
                                               show_default=False),
    concepts_file: Optional[Path] = typer.Option(None, "--concepts", help="A user's JSONL concept file."),
    check: bool = typer.Option(False, "--check", help="Check items and patching pairs against a model."),
    model: Optional[str] = typer.Option(None, "--model", help="Model for --check (default smollm2-135m)."),
    domains: Optional[str] = typer.Option(None, "--domains", help="Comma-separated domains."),
):
    """List the concept sets (or export one, or check them against a model)."""
    from medmap import concepts as C

    if export:
        raise typer.BadParameter("use --export DOMAIN FILE")
    sets = C.resolve_sets(_split(domains), concepts_file)
    if check:
        from medmap.analyses.checks import check_sets
        from medmap.models import load_model

        lm = load_model(model, progress=note)
        report = check_sets(lm, sets)
        if as_json:
            print(json.dumps(report, indent=2))
        else:
            for r in report:
                console.print(f"[bold]{r['domain']}[/bold]: {r['usable_items']}/{r['n_items']} items with a usable "
                              f"answer, {r['usable_pairs']}/{r['n_pairs']} pairs usable "
                              f"({r['pairs_model_right_pct']:.0f}% of pairs the model gets right)")
                for reason, n in r["excluded"].items():
                    console.print(f"    excluded {n}: {reason}")
        return
    rows = [s.summary() for s in sets]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    t = Table("domain", "items", "pairs", "labels (distinct values)", "origin")
    for s, r in zip(sets, rows):
        t.add_row(r["domain"], str(r["n_items"]), str(r["n_pairs"]),
                  ", ".join(f"{k} ({v})" for k, v in r["labels"].items()), s.origin)
    console.print(t)


def _export(domain: str, file: Path) -> None:
    from medmap import concepts as C
    from medmap.store import write_text

    write_text(file, C.to_jsonl(C.load_builtin(domain)))
    note(f"wrote {file}")


@app.command()
def validate(file: Path = typer.Argument(..., help="A JSONL concept file.")):
    """Check a concept file without loading any model."""
    from medmap import concepts as C

    sets = C.load_file(file)
    C.validate_sets(sets)
    for s in sets:
        r = s.summary()
        console.print(f"{file}: domain '{r['domain']}': {r['n_items']} items, {r['n_pairs']} pairs, labels "
                      + ", ".join(f"{k} ({v})" for k, v in r["labels"].items()) + " - valid")


@app.command()
def capture(
    model: Optional[str] = typer.Option(None, "--model", help="Bundled name, HF folder, .gguf file or hub id."),
    domain: Optional[str] = typer.Option(None, "--domain", help="Comma-separated domains (default: all shipped)."),
    concepts_file: Optional[Path] = typer.Option(None, "--concepts", help="A user's JSONL concept file."),
    out: Path = typer.Option(Path("runs/capture"), "--out", help="Output folder."),
    pooling: str = typer.Option("last", help="last | mean | span."),
    batch_size: int = typer.Option(32, help="Prompts per forward pass."),
    dtype: str = typer.Option("float32", "--dtype", help=_DTYPE_HELP),
    device_map: Optional[str] = typer.Option(None, "--device-map", help=_DEVICE_MAP_HELP),
    max_memory: Optional[str] = typer.Option(None, "--max-memory", help=_MAX_MEMORY_HELP),
    offload_folder: Optional[Path] = typer.Option(None, "--offload-folder", help=_OFFLOAD_HELP),
):
    """Capture pooled residual-stream activations of every layer for concept sets."""
    from medmap import concepts as C
    from medmap import parallel
    from medmap.analyses.runner import capture_acts
    from medmap.capture.cached import export_capture
    from medmap.models import load_model
    from medmap.models.loader import parse_device_map
    from medmap.store import Cache

    sets = C.resolve_sets(_split(domain), concepts_file)
    parallel.init()
    placement = parallel.rank_device_map(parse_device_map(device_map), max_memory)
    with parallel.local_main_first():
        lm = load_model(model, dtype=dtype, device_map=placement, max_memory=max_memory,
                        offload_folder=offload_folder, progress=_note)
    cache = Cache(out / "cache")
    for cs in sets:
        with _progress(f"capture {cs.domain}", len(cs)) as adv:
            acts = capture_acts(lm, cs, cache, pooling=pooling, batch_size=batch_size, progress=adv)
        if parallel.is_main():
            export_capture(out / cs.domain, lm, cs, acts, pooling)
            console.print(f"{cs.domain}: {tuple(acts.shape)} -> {out / cs.domain}")


def _progress(desc, total):
    """A progress bar, on rank 0 only under torchrun."""
    from contextlib import nullcontext

    from medmap import parallel

    return task(desc, total) if parallel.is_main() else nullcontext(lambda n=1: None)


def _note(msg: str) -> None:
    from medmap import parallel

    if parallel.is_main():
        note(msg)



@app.command()
def analyze(
    model: Optional[str] = typer.Option(None, "--model", help="Bundled name, HF folder, .gguf file or hub id."),
    domains: Optional[str] = typer.Option(None, "--domains", help="Comma-separated domains (default: all)."),
    techniques: str = typer.Option("geometry,saliency,lesion,patching", "--techniques", help="Comma-separated."),
    concepts_file: Optional[Path] = typer.Option(None, "--concepts", help="A user's JSONL concept file."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML file with any run option."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed for UMAP, bootstrap and sampling."),
    dtype: Optional[str] = typer.Option(None, "--dtype", help=_DTYPE_HELP),
    device_map: Optional[str] = typer.Option(None, "--device-map", help=_DEVICE_MAP_HELP),
    max_memory: Optional[str] = typer.Option(None, "--max-memory", help=_MAX_MEMORY_HELP),
    offload_folder: Optional[Path] = typer.Option(None, "--offload-folder", help=_OFFLOAD_HELP),
):
    """Run techniques and write per-layer scores (scores.csv/.parquet) and 2-d embeddings."""
    from medmap import concepts as C
    from medmap import parallel
    from medmap.analyses.runner import analyze as run_analyses
    from medmap.pipeline import check_context, load_config, load_model_for_rank
    from medmap.store import write_json

    cfg = load_config(config, {"model": model, "domains": domains, "techniques": techniques, "seed": seed,
                               "concepts": str(concepts_file) if concepts_file else None,
                               **_placement(dtype, device_map, max_memory, offload_folder)})
    sets = C.resolve_sets(list(cfg.domains), cfg.concepts)
    C.validate_sets(sets)
    check_context(cfg, sets, _note)
    if parallel.init():
        _note(f"torchrun: {parallel.world_size()} ranks share the sweeps; rank 0 writes {out}")
    parallel.on_main(lambda: write_json(out / "config.json", cfg.to_dict()), share=False)
    lm = load_model_for_rank(cfg, _note)
    scores = run_analyses(lm, sets, list(cfg.techniques), out, cfg.analyze, progress=_progress)
    if parallel.is_main():
        console.print(f"{len(scores)} score rows -> {out / 'scores.csv'}")


@app.command()
def run(
    model: Optional[str] = typer.Option(None, "--model", help="Model (default: the bundled smollm2-135m)."),
    domains: Optional[str] = typer.Option(None, "--domains", help="Comma-separated domains (default: all six)."),
    techniques: Optional[str] = typer.Option(None, "--techniques", help="Comma-separated (default: all four)."),
    concepts_file: Optional[Path] = typer.Option(None, "--concepts", help="A user's JSONL concept file."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder (default: runs/<model>-<config hash>)."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML file with any run option."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed for UMAP, bootstrap and sampling."),
    seeds: Optional[int] = typer.Option(None, "--seeds", min=1,
                                        help="Also map seeds seed+1..seed+N-1; report each interval's spread."),
    paraphrases: Optional[bool] = typer.Option(None, "--paraphrases/--no-paraphrases",
                                               help="Also map each prompt template alone; report the spread.",
                                               show_default=False),
    dtype: Optional[str] = typer.Option(None, "--dtype", help=_DTYPE_HELP),
    device_map: Optional[str] = typer.Option(None, "--device-map", help=_DEVICE_MAP_HELP),
    max_memory: Optional[str] = typer.Option(None, "--max-memory", help=_MAX_MEMORY_HELP),
    offload_folder: Optional[Path] = typer.Option(None, "--offload-folder", help=_OFFLOAD_HELP),
):
    """Map a model: all domains and techniques, the map, findings, figures and the HTML report."""
    from medmap import parallel
    from medmap.pipeline import default_run_dir, load_config, run as run_pipeline

    cfg = load_config(config, {"model": model, "domains": domains, "techniques": techniques, "seed": seed,
                               "seeds": seeds, "paraphrases": paraphrases,
                               "concepts": str(concepts_file) if concepts_file else None,
                               **_placement(dtype, device_map, max_memory, offload_folder)})
    out = out or default_run_dir(cfg)
    parallel.init()
    if not parallel.is_main():
        run_pipeline(cfg, out, _progress, _note)
        return
    console.print(f"run folder: {out}" + (f" (torchrun: {parallel.world_size()} ranks)" if parallel.active() else ""))
    res = run_pipeline(cfg, out, _progress, _note)
    if res["status"] == "already finished":
        console.print(f"{out} has already finished with this configuration; nothing to do "
                      f"(delete {out / 'DONE.json'} to rebuild the map and report)")
        return
    t = res["timings"]
    console.print(f"done in {t['total']:.0f} s: " + ", ".join(f"{k} {v:.0f} s" for k, v in t.items() if k != "total"))
    console.print(f"report: {out / 'report.html'}")


@app.command()
def report(run_dir: Path = typer.Argument(..., help="A finished run folder.")):
    """Rebuild figures and report.html from a finished run, without the model."""
    from medmap.report import build_report, write_figures

    if not (run_dir / "scores.csv").is_file():
        raise typer.BadParameter(f"{run_dir} has no scores.csv: not a medmap run folder")
    write_figures(run_dir)
    console.print(f"report: {build_report(run_dir)}")


@app.command()
def compare(run_dirs: List[Path] = typer.Argument(..., help="Two or more finished run folders."),
            out: Path = typer.Option(..., "--out", help="Output folder."),
            diff: bool = typer.Option(False, "--diff", help="A B: what changed from run A to run B (same number "
                                                            "of layers, e.g. base vs fine-tune): diff.csv, cka.csv, "
                                                            "figures.")):
    """Compare maps of several models on a normalised depth axis (or, with --diff, two runs layer by layer)."""
    if diff:
        _act.compare_diff(run_dirs, out)
        return
    from medmap.report import build_compare_report

    console.print(f"comparison: {build_compare_report(run_dirs, out)}")


from medmap.cli import act as _act  # noqa: E402 (its commands are registered on this app)

app.command("recommend")(_act.recommend)


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point; ``argv`` allows in-process calls (tests)."""
    args = list(sys.argv[1:] if argv is None else argv)
    # `--export DOMAIN FILE` takes two values; typer options take one, so it is handled here.
    if "concepts" in args and "--export" in args:
        i = args.index("--export")
        if len(args) < i + 3:
            console.print("[red]error:[/red] --export needs DOMAIN FILE")
            raise SystemExit(2)
        try:
            _export(args[i + 1], Path(args[i + 2]))
        except MedmapError as e:
            console.print(f"[red]error:[/red] {e}")
            raise SystemExit(2)
        return
    debug = "--debug" in args
    try:
        app(args=args, prog_name="medmap", standalone_mode=False)
    except MedmapError as e:
        if debug:
            raise
        console.print(f"[red]error:[/red] {e}", highlight=False)
        raise SystemExit(2)
    except typer.Exit as e:
        raise SystemExit(e.exit_code)
    except Exception as e:  # click usage errors and the like
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            raise SystemExit(e.exit_code)
        if isinstance(e, click.exceptions.Abort):
            raise SystemExit(130)
        raise
    finally:
        _leave_group()


def _leave_group() -> None:
    """Leave the torchrun process group (if a command joined one) before the process ends."""
    from medmap import parallel

    if parallel.launched():
        parallel.shutdown()
