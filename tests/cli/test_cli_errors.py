"""Every user error on the command line is one line ``error: ...`` on stderr, exit code 2, no traceback,
and nothing written; user text is printed as text (no rich markup, no raw terminal escapes)."""

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from medmap.cli.main import main
from medmap.concepts import load_builtin, to_jsonl

GOOD_ITEM = {"id": "a0", "domain": "symptoms", "prompt": "Fever is a symptom of", "labels": {"category": "x"}}


def _snapshot(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _run_cli(args, capsys):
    with pytest.raises(SystemExit) as e:
        main(args)
    captured = capsys.readouterr()
    return e.value.code, captured.out, captured.err


def _setup(tmp: Path) -> dict:
    (tmp / "file").write_text("x")
    (tmp / "foreign").mkdir()
    (tmp / "foreign" / "notes.txt").write_text("mine")
    (tmp / "notrun").mkdir()
    (tmp / "bad.jsonl").write_text('{"id": "x", "domain": "age", "prompt": "p"}\n')
    (tmp / "bad.yaml").write_text("analyze: {geometry: {n_neighbors: -1}}\n")
    (tmp / "types.yaml").write_text("domains: 5\nseed: abc\n")
    (tmp / "judge.yaml").write_text("analyze: {judge: {kind: openai, url: 'https://me:SECRET123@api.x/v1'}}\n")
    (tmp / "list.yaml").write_text("- a\n- b\n")
    bomb = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    bomb += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 12)]
    (tmp / "bomb.yaml").write_text("\n".join(bomb) + "\nmax_memory: {0: *a11}\n")
    return {"tmp": str(tmp), "home": str(Path.home())}


# (arguments, text the one line must contain); {tmp} is a scratch folder
CASES = [
    (["run", "--seeds", "0"], "--seeds"),
    (["run", "--bogus"], "No such option: --bogus"),
    (["validate"], "Missing argument"),
    (["report", "/nonexistent-medmap-run"], "no such run folder"),
    (["report", "{tmp}/notrun"], "not a medmap run folder"),
    (["run", "--out", "{tmp}/file", "--domains", "age"], "not a folder"),
    (["run", "--out", "{tmp}/foreign", "--domains", "age"], "--force"),
    (["run", "--out", "/", "--domains", "age"], "refusing"),
    (["run", "--out", "{home}", "--domains", "age"], "refusing"),
    (["compare", "{tmp}/notrun", "{tmp}/notrun", "--out", "{tmp}/file"], "not a medmap run folder"),
    (["run", "--config", "{tmp}/bad.yaml", "--out", "{tmp}/o"], "analyze.geometry.n_neighbors: must be >= 2 (got -1)"),
    (["run", "--config", "{tmp}/types.yaml", "--out", "{tmp}/o"], "domains: must be a list"),
    (["run", "--config", "{tmp}/list.yaml", "--out", "{tmp}/o"], "must be a mapping"),
    (["run", "--config", "{tmp}/judge.yaml", "--out", "{tmp}/o"], "analyze.judge.url: must not contain"),
    (["run", "--config", "{tmp}/missing.yaml"], "no such config file"),
    (["run", "--config", "{tmp}/bomb.yaml", "--out", "{tmp}/o"], "more than 10000 values"),
    (["run", "--seed", "-1", "--out", "{tmp}/o"], "--seed: must be >= 0"),
    (["run", "--dtype", "int8", "--out", "{tmp}/o"], "--dtype: must be one of"),
    (["run", "--domains", "age,bogus", "--out", "{tmp}/o"], "--domains: unknown domain(s) bogus"),
    (["run", "--domains", "age,age", "--out", "{tmp}/o"], "more than once"),
    (["run", "--concepts", "{tmp}/bad.jsonl", "--out", "{tmp}/o"], "line 1"),
    (["run", "--concepts", "{tmp}/none.jsonl", "--out", "{tmp}/o"], "no such concept file"),
    (["run", "--model", "no-such-model", "--domains", "age", "--out", "{tmp}/o"], "unknown model 'no-such-model'"),
    (["run", "--model", "{tmp}/x.gguf", "--domains", "age", "--out", "{tmp}/o"], "no such GGUF file"),
    (["run", "--max-memory", "0:1", "--out", "{tmp}/o"], "--max-memory"),
    (["run", "--device-map", "{{bad", "--out", "{tmp}/o"], "--device-map: is not valid JSON"),
    (["analyze", "--domains", "age"], "Missing option '--out'"),
    (["capture", "--out", "{tmp}/file", "--domains", "age"], "not a folder"),
    (["capture", "--pooling", "max", "--out", "{tmp}/o"], "analyze.pooling: must be one of"),
    (["validate", "{tmp}/bad.jsonl"], "line 1"),
    (["validate", "[/x].jsonl"], "[/x].jsonl: no such concept file"),
    (["concepts", "--export", "age"], "'--export' requires 2 arguments"),
    (["concepts", "--export", "age", "{tmp}"], "is a folder"),
    (["concepts", "--export", "nodomain", "{tmp}/x.jsonl"], "unknown domain 'nodomain'"),
]


@pytest.mark.parametrize("args, needle", CASES, ids=[" ".join(c[0])[:50] for c in CASES])
def test_user_error_is_one_line_exit_2_nothing_written(tmp_path, capsys, args, needle):
    subs = _setup(tmp_path)
    before = _snapshot(tmp_path)
    code, out, err = _run_cli([a.format(**subs) for a in args], capsys)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert needle in lines[0], err
    assert "Traceback" not in err and "SECRET123" not in err + out
    assert _snapshot(tmp_path) == before


def test_debug_shows_the_traceback(capsys):
    with pytest.raises(Exception) as e:
        main(["--debug", "validate", "/nonexistent.jsonl"])
    assert "no such concept file" in str(e.value)


def test_internal_error_is_one_line_exit_1(monkeypatch, tmp_path, capsys):
    import medmap.concepts as C

    def boom(*a, **k):
        raise ZeroDivisionError("oops")

    monkeypatch.setattr(C, "load_file", boom)
    code, _, err = _run_cli(["validate", str(tmp_path / "x.jsonl")], capsys)
    assert code == 1 and err.count("\n") == 1 and "internal error: ZeroDivisionError: oops" in err
    assert "--debug" in err and "Traceback" not in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_out_folder(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        code, _, err = _run_cli(["run", "--out", str(ro / "run"), "--domains", "age"], capsys)
        assert code == 2 and "cannot write" in err
    finally:
        ro.chmod(0o755)


# -- rich markup and terminal escapes in user text -----------------------------------------------------

def test_markup_in_file_names_ids_and_labels_is_printed_literally(tmp_path, capsys):
    name = tmp_path / "[bold red]set[blink].jsonl"
    cs = load_builtin("symptoms").subset(lambda it: it.template == "t0")
    name.write_text(to_jsonl(cs))
    main(["validate", str(name)])
    err = capsys.readouterr().err
    assert "[bold red]set[blink].jsonl" in err and "\x1b" not in err
    items = [dict(GOOD_ITEM, id="[/x]"), dict(GOOD_ITEM, id="[/x]")]  # a duplicate id names it
    bad = tmp_path / "dup.jsonl"
    bad.write_text("".join(json.dumps(i) + "\n" for i in items))
    code, _, err = _run_cli(["validate", str(bad)], capsys)
    assert code == 2 and "duplicate id '[/x]'" in err


def test_terminal_escapes_in_user_text_are_escaped(tmp_path, capsys):
    items = [dict(GOOD_ITEM, id="\x1b[31mred\x07"), dict(GOOD_ITEM, id="\x1b[31mred\x07")]
    bad = tmp_path / "esc.jsonl"
    bad.write_text("".join(json.dumps(i) + "\n" for i in items))
    code, _, err = _run_cli(["validate", str(bad)], capsys)
    assert code == 2 and "\x1b" not in err and "\x07" not in err and "\\x1b[31mred\\x07" in err


def test_progress_is_silent_off_a_terminal_unless_asked():
    from medmap.cli import progress as P

    with P.console.capture() as cap:
        with P.task("work", 3) as adv:
            adv(3)
    assert "work" not in cap.get()  # tests run without a terminal
    try:
        P.show_progress(True)
        with P.console.capture() as cap:
            with P.task("[bold]work[/bold]", 3) as adv:
                adv(3)
        assert "[bold]work[/bold]" in cap.get()
    finally:
        P.show_progress(False)


# -- any concept file and any config: a clear error or success, never a traceback ------------------------

FIELDS = ["id", "domain", "prompt", "labels", "answer", "pair", "span", "template", "extra"]
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 10**20), st.floats(allow_nan=False),
              st.text(max_size=6), st.sampled_from(["age", "symptoms", "[/x]", "\x1b[2J", "x" * 3])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=8)
ITEMS = st.fixed_dictionaries({}, optional={k: JSON_VALUES for k in FIELDS})
LINES = st.lists(st.one_of(ITEMS.map(json.dumps), st.just(json.dumps(GOOD_ITEM)), st.text(max_size=20)),
                 min_size=0, max_size=5)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(LINES)
@example([json.dumps(GOOD_ITEM), json.dumps(dict(GOOD_ITEM, id="a1"))])
@example(["\ud800"])
@example(["{" * 2000])
def test_any_concept_file_is_valid_or_one_clear_error(tmp_path, capsys, lines):
    f = tmp_path / "c.jsonl"
    f.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    try:
        main(["validate", str(f)])
        code = 0
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    assert code in (0, 2), err
    assert "Traceback" not in err and "\x1b" not in err
    if code == 2:
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1


CONFIG_KEYS = ["domains", "techniques", "seed", "seeds", "paraphrases", "dtype", "device_map", "analyze",
               "map_rules", "concepts", "bogus"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(CONFIG_KEYS), JSON_VALUES, max_size=4))
@example({"seed": 3, "domains": ["age"]})
def test_any_config_file_is_one_clear_error_before_anything_is_written(tmp_path, capsys, cfg):
    import yaml

    f = tmp_path / "run.yaml"
    f.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "out"
    # the model does not exist: a valid config ends at the model, before anything is written
    code, _, err = _run_cli(["run", "--config", str(f), "--model", str(tmp_path / "none.gguf"), "--out", str(out)],
                            capsys)
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and not out.exists()
