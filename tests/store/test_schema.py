"""A run folder's files are checked against their schema when read (report, compare): every bad file is
one clear error naming the file (and line), never a traceback or a silently wrong report."""

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))

from medmap.cli.main import main  # noqa: E402
from medmap.report.data import ReportError, load_run  # noqa: E402
from medmap.store.schema import MAP_COLUMNS, SCORE_COLUMNS, RunFileError, read_table  # noqa: E402
from report_fixture import make_fake_run  # noqa: E402


@pytest.fixture
def run(tmp_path):
    return make_fake_run(tmp_path, n_layers=5)


def _scores(run):
    return pd.read_csv(run / "scores.csv")


def _set(run, df):
    df.to_csv(run / "scores.csv", index=False)


def _layer_abc(run):
    df = _scores(run).astype({"layer": object})
    df.loc[3, "layer"] = "abc"
    _set(run, df)


def _all_nan(run):
    df = _scores(run)
    df["value"] = float("nan")
    _set(run, df)


def _inf(run):
    df = _scores(run)
    df.loc[2, "value"] = float("inf")
    _set(run, df)


def _duplicate(run):
    df = _scores(run)
    _set(run, pd.concat([df, df.iloc[[4]]], ignore_index=True))


def _beyond(run):
    df = _scores(run)
    df.loc[1, "layer"] = 7
    _set(run, df)


def _unknown_domain(run):
    df = _scores(run)
    df.loc[0, "domain"] = "astrology"
    _set(run, df)


def _text_value(run):
    df = _scores(run).astype({"value": object})
    df.loc[0, "value"] = "high"
    _set(run, df)


def _empty_model(run):
    df = _scores(run)
    df.loc[0, "model"] = ""
    _set(run, df)


BAD = [
    ("scores.csv: empty file", lambda r: (r / "scores.csv").write_text("")),
    ("scores.csv: no rows", lambda r: (r / "scores.csv").write_text(",".join(SCORE_COLUMNS) + "\n")),
    ("scores.csv: missing column(s) n_layers", lambda r: (r / "scores.csv").write_text("model,layer\nx,1\n")),
    ("scores.csv: line 5: column 'layer' must be an integer, got 'abc'", _layer_abc),
    ("scores.csv: no finite value", _all_nan),
    ("scores.csv: line 4: column 'value' is infinite", _inf),
    ("scores.csv: line 2: column 'value' is not a number: 'high'", _text_value),
    ("a second row for model", _duplicate),
    ("layer 7 is outside 0..4", _beyond),
    ("unknown domain 'astrology'", _unknown_domain),
    ("domain 'astro/logy' is not a domain name", lambda r: _set(r, _scores(r).assign(domain="astro/logy"))),
    ("scores.csv: line 2: column 'model' is empty", _empty_model),
    ("map.csv: line 2: depth is not layer / n_layers",
     lambda r: (r / "map.csv").write_text((r / "map.csv").read_text().replace(",0.0,", ",0.5,", 1))),
    ("embeddings/age.json: cannot read JSON", lambda r: (r / "embeddings" / "age.json").write_text("{not json")),
    ("embeddings/age.json: layer 9 is not a layer of the model",
     lambda r: _edit_json(r / "embeddings" / "age.json", lambda e: {**e, "layers": [9] + e["layers"][1:]})),
    ("embeddings/age.json: layer 0: a point is not two finite numbers",
     lambda r: _edit_json(r / "embeddings" / "age.json",
                          lambda e: {**e, "coords": [[["x", 1]] + e["coords"][0][1:]] + e["coords"][1:]})),
    ("embeddings/age.json: 'layers', 'coords' and 'items' must be lists",
     lambda r: _edit_json(r / "embeddings" / "age.json", lambda e: {**e, "items": "abc"})),
    ("map.json: interval 0 ends at layer 9",
     lambda r: _edit_json(r / "map.json", lambda m: {**m, "intervals": [{**m["intervals"][0], "end": 9}]})),
    ("map.json: interval 0 needs",
     lambda r: _edit_json(r / "map.json", lambda m: {**m, "intervals": [{"start": "a"}]})),
]


def _edit_json(path, fn):
    path.write_text(json.dumps(fn(json.loads(path.read_text()))))


@pytest.mark.parametrize("needle, spoil", BAD, ids=[b[0][:40] for b in BAD])
def test_bad_run_file_is_one_clear_error(run, needle, spoil, capsys):
    spoil(run)
    with pytest.raises(ReportError) as e:
        load_run(run)
    assert needle in str(e.value) and "\n" not in str(e.value)
    before = sorted(p.name for p in run.iterdir())
    with pytest.raises(SystemExit) as ex:
        main(["report", str(run)])
    assert ex.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and needle.split(":")[-1].strip()[:20] in " ".join(err.split())
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in run.iterdir()) == before  # nothing written


def test_good_files_pass(run):
    data = load_run(run)
    assert list(data.scores.columns) == list(SCORE_COLUMNS)
    assert set(MAP_COLUMNS) <= set(data.map_df.columns)
    assert data.map_df["in_interval"].dtype == bool


def test_read_table_is_the_one_reader(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text(",".join(SCORE_COLUMNS) + "\nm,2,age,lesion,logprob_drop,1,0.5,,\n")
    df = read_table(p)
    assert df["layer"].tolist() == [1] and df["ci_low"].isna().all()
    with pytest.raises(RunFileError, match="unknown technique 'magic'"):
        p.write_text(",".join(SCORE_COLUMNS) + "\nm,2,age,magic,x,1,0.5,,\n")
        read_table(p)


def test_compare_refuses_a_folder_that_is_not_a_run(run, tmp_path, capsys):
    other = tmp_path / "not-a-run"
    other.mkdir()
    (other / "notes.txt").write_text("hello")
    with pytest.raises(SystemExit) as e:
        main(["compare", str(run), str(other), "--out", str(tmp_path / "cmp")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "not a medmap run folder" in err and "Traceback" not in err
    assert not (tmp_path / "cmp").exists()


def test_compare_out_must_be_a_folder(run, tmp_path, capsys):
    f = tmp_path / "file.html"
    f.write_text("x")
    with pytest.raises(SystemExit) as e:
        main(["compare", str(run), str(run), "--out", str(f)])
    assert e.value.code == 2 and "not a folder" in capsys.readouterr().err
