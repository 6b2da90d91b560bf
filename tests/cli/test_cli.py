import json

import pytest

from medmap.cli.main import main
from medmap.concepts import load_builtin


def test_concepts_json(capsys):
    main(["concepts", "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert {r["domain"] for r in rows} >= {"age"}
    for r in rows:
        assert set(r) == {"domain", "n_items", "labels", "n_pairs"}
        assert r["n_items"] > 0


def test_export_then_validate(tmp_path, capsys):
    f = tmp_path / "age.jsonl"
    main(["concepts", "--export", "age", str(f)])
    assert f.read_text().count("\n") == len(load_builtin("age"))
    main(["validate", str(f)])


def test_bad_input_exits_nonzero_with_one_paragraph(tmp_path, capsys):
    f = tmp_path / "bad.jsonl"
    f.write_text('{"id": "x", "domain": "age", "prompt": "p"}\n')
    with pytest.raises(SystemExit) as e:
        main(["validate", str(f)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "line 1" in err and "labels" in err and "Traceback" not in err


def test_unknown_model_is_a_clear_error(capsys, tmp_path):
    with pytest.raises(SystemExit) as e:  # a fresh folder: a fixed /tmp path may hold anything
        main(["capture", "--model", "no-such-model", "--domains", "age", "--out", str(tmp_path / "out")])
    assert e.value.code == 2
    assert "unknown model 'no-such-model'" in capsys.readouterr().err


def test_not_a_gguf_is_a_clear_error(tmp_path, capsys):
    f = tmp_path / "fake.gguf"
    f.write_bytes(b"NOPE" + b"\0" * 100)
    with pytest.raises(SystemExit):
        main(["capture", "--model", str(f), "--domains", "age", "--out", str(tmp_path / "o")])
    assert "not a GGUF file" in capsys.readouterr().err
