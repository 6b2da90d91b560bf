"""medmap's command line. Every command is a thin call into the library."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional, Tuple

import typer

from medmap.cli.errors import exit_codes
from medmap.cli.progress import console, note, say, show_progress, task
from medmap.errors import MedmapError
from medmap.techniques import TECHNIQUES

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Knowledge maps of LLMs for medical concepts (age, symptoms, diseases, progression, "
                       "drugs, dosage).")
_CONTROLS_HELP = ("Opt-in controls, comma-separated: random_init (the geometry of the same architecture with "
                  "re-initialised weights: rows M@random_init).")
_DTYPE_HELP = "float32 | bfloat16 | float16 (bfloat16 on GPU halves memory)."
_DEVICE_MAP_HELP = ("accelerate device map for models larger than one device: auto | balanced | sequential | a "
                    "device (cuda:0, cpu) | JSON {\"module\": \"cuda:0\" | \"cpu\" | \"disk\"}.")
_MAX_MEMORY_HELP = "Memory per device for the device map, e.g. 0=20GiB,cpu=60GiB (implies --device-map auto)."
_OFFLOAD_HELP = "Folder for the weights the device map places on disk."
_TECHNIQUES_HELP = f"Comma-separated, from: {', '.join(TECHNIQUES)}."


def _placement(dtype, device_map, max_memory, offload_folder) -> dict:
    return {"dtype": dtype, "device_map": device_map, "max_memory": max_memory,
            "offload_folder": str(offload_folder) if offload_folder else None}


_FORCE_HELP = "Write into a non-empty folder that is not a medmap folder."
_WAIT_HELP = "When another medmap is using the folder, wait for it instead of failing."


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
          progress: bool = typer.Option(False, "--progress", help="Draw progress bars even when stderr is not "
                                                                   "a terminal (also MEDMAP_PROGRESS=1).")):
    # --debug is read by main() before the command runs
    if progress:
        show_progress(True)


def _cell(value) -> "object":
    """A table cell: user text shown literally (no rich markup)."""
    from rich.text import Text

    from medmap.cli.progress import safe

    return Text(safe(value))


def _split(value: Optional[str]) -> Optional[list[str]]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


@app.command()
def models(as_json: bool = typer.Option(False, "--json", help="Print JSON."),
           verify: bool = typer.Option(False, "--verify", help="Recompute the full sha256 of every converted "
                                                                "model in the cache and compare it with the one "
                                                                "recorded at conversion.")):
    """List the bundled models, their shape, and whether their converted weights are cached."""
    from medmap.models import describe_bundled

    if verify:
        _verify_models(as_json)
        return
    rows = describe_bundled()
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    t = Table("name", "layers", "hidden", "installed", "cached", "description")
    for r in rows:
        t.add_row(_cell(r["name"] + (" (default)" if r["default"] else "")), str(r["layers"]), str(r["hidden_size"]),
                  "yes" if r["installed"] else "no", "yes" if r["cached"] else "no", _cell(r["description"]))
    console.print(t)


def _verify_models(as_json: bool) -> None:
    import time

    from medmap.models import cache_root, converted_models, verify_converted

    rows = []
    for folder in converted_models():
        t = time.perf_counter()
        why = verify_converted(folder, full=True)
        rows.append({"folder": str(folder), "ok": why is None, "problem": why,
                     "seconds": round(time.perf_counter() - t, 2)})
    if as_json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        say(f"no converted model in {cache_root() / 'models'}")
    for r in rows if not as_json else ():
        say(f"{r['folder']}: " + ("ok" if r["ok"] else f"DOES NOT MATCH ({r['problem']}); it is converted again "
                                   "at its next load, or delete the folder") + f" ({r['seconds']} s)")
    if any(not r["ok"] for r in rows):
        raise typer.Exit(1)


@app.command()
def concepts(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per set."),
    export: Optional[Tuple[str, Path]] = typer.Option(None, "--export", metavar="DOMAIN FILE",
                                                      help="Write a built-in set as JSONL.", show_default=False),
    concepts_file: Optional[Path] = typer.Option(None, "--concepts", help="A user's JSONL concept file."),
    check: bool = typer.Option(False, "--check", help="Check items and patching pairs against a model."),
    model: Optional[str] = typer.Option(None, "--model", help="Model for --check (default smollm2-135m)."),
    domains: Optional[str] = typer.Option(None, "--domains", help="Comma-separated domains."),
):
    """List the concept sets (or export one, or check them against a model)."""
    from medmap import concepts as C

    if export:
        _export(*export)
        return
    sets = C.resolve_sets(_split(domains), concepts_file)
    if check:
        from medmap.analyses.checks import check_sets
        from medmap.models import load_model

        lm = load_model(model, note=note)
        report = check_sets(lm, sets)
        if as_json:
            print(json.dumps(report, indent=2))
        else:
            for r in report:
                say(f"{r['domain']}: {r['usable_items']}/{r['n_items']} items with a usable answer "
                    f"({r['n_neutral']} neutral, without answer); pairs: {r['pairs_usable']}/{r['n_pairs']} "
                    f"usable ({r['pairs_model_right_pct']:.0f}% the model gets right), "
                    f"{r['pairs_equal_length']}/{r['n_pairs']} of equal token length, "
                    f"{r['pairs_first_token_shared']} with answers sharing a first token")
                for reason, n in r["excluded"].items():
                    say(f"    excluded {n}: {reason}")
                for e in r["excluded_pairs"]:
                    say(f"    pair {e['id']}: {e['reason']}")
                for key, what in (("pairs_unequal_length_ids", "unequal token length"),
                                  ("pairs_first_token_shared_ids", "answers share a first token")):
                    if r[key]:
                        say(f"    {what}: " + ", ".join(r[key]))
        return
    rows = [s.summary() for s in sets]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    t = Table("domain", "items", "pairs", "labels (distinct values)", "origin")
    for s, r in zip(sets, rows):
        t.add_row(_cell(r["domain"]), str(r["n_items"]), str(r["n_pairs"]),
                  _cell(", ".join(f"{k} ({v})" for k, v in r["labels"].items())), _cell(s.origin))
    console.print(t)


def _print_check(report: list[dict]) -> None:
    """The `concepts --check` report as text: per set the figures of the JSON report, then why each
    excluded pair is excluded and which pairs are of unequal length or share a first answer token.
    Ids and reasons are printed as plain text (markup=False): they come from the user's file."""
    for r in report:
        console.print(f"{r['domain']}: {r['usable_items']}/{r['n_items']} items with a usable answer "
                      f"({r['n_neutral']} neutral, without answer); pairs: {r['pairs_usable']}/{r['n_pairs']} "
                      f"usable ({r['pairs_model_right_pct']:.0f}% the model gets right), "
                      f"{r['pairs_equal_length']}/{r['n_pairs']} of equal token length, "
                      f"{r['pairs_first_token_shared']} with answers sharing a first token", markup=False, soft_wrap=True)
        for reason, n in r["excluded"].items():
            console.print(f"    excluded {n}: {reason}", markup=False, soft_wrap=True)
        for e in r["excluded_pairs"]:
            console.print(f"    pair {e['id']}: {e['reason']}", markup=False, soft_wrap=True)
        for key, what in (("pairs_unequal_length_ids", "unequal token length"),
                          ("pairs_first_token_shared_ids", "answers share a first token")):
            if r[key]:
                console.print(f"    {what}: " + ", ".join(r[key]), markup=False, soft_wrap=True)


def _export(domain: str, file: Path) -> None:
    from medmap import concepts as C
    from medmap.store import write_text

    if file.is_dir():
        raise MedmapError(f"{file}: is a folder; name the JSONL file to write")
    try:
        write_text(file, C.to_jsonl(C.load_builtin(domain)))
    except OSError as e:
        raise MedmapError(f"{file}: cannot write it ({e.strerror or e})") from None
    note(f"wrote {file}")


@app.command()
def validate(file: Path = typer.Argument(..., help="A JSONL concept file.")):
    """Check a concept file without loading any model."""
    from medmap import concepts as C

    sets = C.load_file(file)
    C.validate_sets(sets)
    for s in sets:
        r = s.summary()
        say(f"{file}: domain '{r['domain']}': {r['n_items']} items, {r['n_pairs']} pairs, labels "
            + ", ".join(f"{k} ({v})" for k, v in r["labels"].items()) + " - valid")


@app.command()
def capture(
    model: Optional[str] = typer.Option(None, "--model", help="Bundled name, HF folder, .gguf file or hub id."),
    domains: Optional[str] = typer.Option(None, "--domains", help="Comma-separated domains (default: all shipped)."),
    concepts_file: Optional[Path] = typer.Option(None, "--concepts", help="A user's JSONL concept file."),
    out: Path = typer.Option(Path("runs/capture"), "--out", help="Output folder."),
    pooling: str = typer.Option("last", help="last | mean | span."),
    batch_size: int = typer.Option(32, help="Prompts per forward pass."),
    dtype: str = typer.Option("float32", "--dtype", help=_DTYPE_HELP),
    device_map: Optional[str] = typer.Option(None, "--device-map", help=_DEVICE_MAP_HELP),
    max_memory: Optional[str] = typer.Option(None, "--max-memory", help=_MAX_MEMORY_HELP),
    offload_folder: Optional[Path] = typer.Option(None, "--offload-folder", help=_OFFLOAD_HELP),
    force: bool = typer.Option(False, "--force", help=_FORCE_HELP),
    wait: bool = typer.Option(False, "--wait", help=_WAIT_HELP),
):
    """Capture pooled residual-stream activations of every layer for concept sets."""
    from medmap import parallel, pipeline
    from medmap.config import config_from_dict

    given = {"model": model, "domains": domains, "concepts": str(concepts_file) if concepts_file else None,
             **_placement(dtype, device_map, max_memory, offload_folder)}
    given = {k: v for k, v in given.items() if v is not None}
    cfg = config_from_dict({**given, "analyze": {"pooling": pooling, "capture_batch_size": batch_size}}, "options",
                           overridden=tuple(given))
    parallel.init()
    shapes = pipeline.capture(cfg, out, _progress, _note, force=force, wait=wait)
    for domain, shape in shapes.items() if parallel.is_main() else ():
        say(f"{domain}: {shape} -> {out / domain}")


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
    techniques: Optional[str] = typer.Option(None, "--techniques", help=_TECHNIQUES_HELP + " Default: all."),
    concepts_file: Optional[Path] = typer.Option(None, "--concepts", help="A user's JSONL concept file."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML file with any run option."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed for UMAP, bootstrap and sampling."),
    controls: Optional[str] = typer.Option(None, "--controls", help=_CONTROLS_HELP),
    dtype: Optional[str] = typer.Option(None, "--dtype", help=_DTYPE_HELP),
    device_map: Optional[str] = typer.Option(None, "--device-map", help=_DEVICE_MAP_HELP),
    max_memory: Optional[str] = typer.Option(None, "--max-memory", help=_MAX_MEMORY_HELP),
    offload_folder: Optional[Path] = typer.Option(None, "--offload-folder", help=_OFFLOAD_HELP),
    force: bool = typer.Option(False, "--force", help=_FORCE_HELP),
    wait: bool = typer.Option(False, "--wait", help=_WAIT_HELP),
):
    """Run techniques and write per-layer scores (scores.csv/.parquet) and 2-d embeddings."""
    from medmap import parallel, pipeline

    cfg = pipeline.load_config(config, {"model": model, "domains": domains, "techniques": techniques, "seed": seed,
                                        "controls": controls, "concepts": str(concepts_file) if concepts_file else None,
                                        **_placement(dtype, device_map, max_memory, offload_folder)})
    parallel.init()
    scores = pipeline.analyze(cfg, out, _progress, _note, force=force, wait=wait)
    if parallel.is_main():
        say(f"{len(scores)} score rows -> {out / 'scores.csv'}")


@app.command()
def run(
    model: Optional[str] = typer.Option(None, "--model", help="Model (default: the bundled smollm2-135m)."),
    domains: Optional[str] = typer.Option(None, "--domains", help="Comma-separated domains (default: all six, or "
                                                                  "all of the --concepts file)."),
    techniques: Optional[str] = typer.Option(None, "--techniques", help=_TECHNIQUES_HELP + " Default: all."),
    concepts_file: Optional[Path] = typer.Option(None, "--concepts", help="A user's JSONL concept file."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder (default: runs/<model>-<config hash>)."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML file with any run option."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed for UMAP, bootstrap and sampling."),
    seeds: Optional[int] = typer.Option(None, "--seeds",
                                        help="Also map seeds seed+1..seed+N-1; report each interval's spread."),
    paraphrases: Optional[bool] = typer.Option(None, "--paraphrases/--no-paraphrases",
                                               help="Also map each prompt template alone; report the spread.",
                                               show_default=False),
    controls: Optional[str] = typer.Option(None, "--controls", help=_CONTROLS_HELP),
    dtype: Optional[str] = typer.Option(None, "--dtype", help=_DTYPE_HELP),
    device_map: Optional[str] = typer.Option(None, "--device-map", help=_DEVICE_MAP_HELP),
    max_memory: Optional[str] = typer.Option(None, "--max-memory", help=_MAX_MEMORY_HELP),
    offload_folder: Optional[Path] = typer.Option(None, "--offload-folder", help=_OFFLOAD_HELP),
    force: bool = typer.Option(False, "--force", help=_FORCE_HELP),
    wait: bool = typer.Option(False, "--wait", help=_WAIT_HELP),
):
    """Map a model: all domains and techniques, the map, findings, figures and the HTML report."""
    from medmap import parallel
    from medmap.pipeline import default_run_dir, load_config, run as run_pipeline

    cfg = load_config(config, {"model": model, "domains": domains, "techniques": techniques, "seed": seed,
                               "seeds": seeds, "paraphrases": paraphrases, "controls": controls,
                               "concepts": str(concepts_file) if concepts_file else None,
                               **_placement(dtype, device_map, max_memory, offload_folder)})
    out = out or default_run_dir(cfg)
    parallel.init()
    res = run_pipeline(cfg, out, _progress, _note, force=force, wait=wait)  # names the folder once it is checked
    if not parallel.is_main():
        return
    if res["status"] == "already finished":
        say(f"{out} has already finished with this configuration, these concept sets and this model; nothing to "
            f"do (delete {out / 'DONE.json'} to rebuild the map and report)")
        return
    t = res["timings"]
    say(f"done in {t['total']:.0f} s: " + ", ".join(f"{k} {v:.0f} s" for k, v in t.items() if k != "total"))
    say(f"report: {out / 'report.html'}")


@app.command()
def report(run_dir: Path = typer.Argument(..., help="A finished run folder."),
           wait: bool = typer.Option(False, "--wait", help=_WAIT_HELP)):
    """Rebuild figures and report.html from a finished run, without the model."""
    from medmap import pipeline

    say(f"report: {pipeline.rebuild_report(run_dir, note, wait=wait)}")


@app.command()
def compare(run_dirs: List[Path] = typer.Argument(..., help="Two or more finished run folders."),
            out: Path = typer.Option(..., "--out", help="Output folder."),
            force: bool = typer.Option(False, "--force", help=_FORCE_HELP),
            wait: bool = typer.Option(False, "--wait", help=_WAIT_HELP),
            diff: bool = typer.Option(False, "--diff", help="A B: what changed from run A to run B (same number "
                                                            "of layers, e.g. base vs fine-tune): diff.csv, cka.csv, "
                                                            "figures.")):
    """Compare maps of several models on a normalised depth axis (or, with --diff, two runs layer by layer)."""
    from medmap import pipeline

    if diff:
        act_commands.compare_diff(run_dirs, out)
        return

    say(f"comparison: {pipeline.compare(run_dirs, out, note, force=force, wait=wait)}")


from medmap.cli import act as act_commands  # noqa: E402 (its commands are registered on this app)

app.command("recommend")(act_commands.recommend)


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point; ``argv`` allows in-process calls (tests). A user error (a bad argument, option,
    config, concept file, model or folder) prints one line ``error: ...`` and exits with code 2;
    any other failure prints one line too and exits with 1. ``--debug`` shows the traceback."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        with exit_codes(debug="--debug" in args):
            rc = app(args=args, prog_name="medmap", standalone_mode=False)
            if isinstance(rc, int) and rc != 0:  # typer.Exit(code), returned without standalone mode
                raise SystemExit(rc)
    finally:
        _leave_group()


def _leave_group() -> None:
    """Leave the torchrun process group (if a command joined one) before the process ends."""
    from medmap import parallel

    if parallel.launched():
        parallel.shutdown()
