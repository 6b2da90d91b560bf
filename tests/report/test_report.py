"""medmap.report: figures, the self-contained HTML report, the comparison report, and the page
itself in a real headless browser (Chromium) when one is installed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("plotly")

from report_fixture import MALICIOUS, make_fake_run  # noqa: E402

from medmap.errors import MedmapError  # noqa: E402
from medmap.report import build_compare_report, build_report, write_figures  # noqa: E402
from medmap.report import figures as F  # noqa: E402
from medmap.report.curves import curves_figure  # noqa: E402
from medmap.report.compare import compare_figure, interval_differences  # noqa: E402
from medmap.report.data import ReportError, load_run  # noqa: E402

SRC = Path(__file__).resolve().parents[2] / "src" / "medmap" / "report"


@pytest.fixture(scope="module")
def run12(tmp_path_factory):
    return make_fake_run(tmp_path_factory.mktemp("r12"), n_layers=12)


@pytest.fixture(scope="module")
def report12(run12):
    return build_report(run12)


@pytest.fixture(scope="module")
def loaded(run12):
    return load_run(run12)


def _plain(html_text: str) -> str:
    """The page without the inlined plotly.js bundle (which carries inert URL strings of its own)."""
    return re.sub(r'<script id="plotly-js">.*?</script>', "", html_text, flags=re.S)


def _assert_offline(text: str):
    plain = _plain(text)
    assert not re.search(r"https?://", plain), re.search(r".{60}https?://.{60}", plain)
    for pat in (r'src\s*=\s*["\']?(https?:)?//', r'href\s*=\s*["\']?(https?:)?//', r"<link\b", r"@import",
                r"url\(\s*['\"]?(https?:)?//"):
        assert not re.search(pat, plain, flags=re.I), pat
    assert all(v.startswith("data:") for v in re.findall(r'\bsrc="([^"]*)"', plain))
    assert "default-src 'none'" in text  # CSP: the browser may fetch nothing


# -- importing -------------------------------------------------------------------------------

def test_import_is_light():
    code = ("import sys, medmap.report; bad = [m for m in ('matplotlib', 'plotly', 'torch', 'medmap.models', "
            "'medmap.capture', 'medmap.analyses') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_sources_do_not_import_compute_modules():
    for p in SRC.glob("*.py"):
        text = p.read_text()
        for bad in ("import torch", "from torch", "medmap.models", "medmap.capture", "medmap.analyses"):
            assert bad not in text, f"{p.name} mentions {bad}"
        assert len(text.splitlines()) <= 400, f"{p.name} is over 400 lines"


# -- figures ---------------------------------------------------------------------------------

def test_map_figure(loaded):
    from matplotlib.figure import Figure

    fig = F.map_figure(loaded.map_df, loaded.intervals, loaded.agreement)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.images) == 6  # one agreement strip per domain
    marked = [ln for ln in ax.lines if ln.get_marker() not in (None, "None", "")]
    assert len(marked) == len(loaded.intervals)  # the markers of each interval
    assert [t.get_text() for t in ax.get_yticklabels()] == ["age", "symptoms", "diseases", "progression",
                                                            "drugs", "dosage"]
    depth = F.map_figure(loaded.map_df, loaded.intervals, loaded.agreement, depth=True)
    assert depth.axes[0].get_xlim() == (0.0, 1.0)


def test_map_figure_counts_agreement_without_map_json(loaded):
    fig = F.map_figure(loaded.map_df, loaded.intervals, None)
    strip = fig.axes[0].images[0].get_array()
    assert strip.max() >= 1


@pytest.mark.parametrize("domain", ["age", "drugs", "dosage"])
def test_curves_figure(loaded, domain):
    fig = curves_figure(loaded.scores, loaded.map_df, loaded.intervals, domain, lanes=loaded.lanes)
    axes = [a for a in fig.axes if a.get_visible()]
    titles = [a.get_title(loc="left") for a in axes]
    # geometry (+ probes for age), then raw and specific side by side for saliency, lesion, patching, lens
    assert len(axes) == 9 + (domain == "age")
    for ax in axes:
        assert ax.lines and ax.collections  # curve + CI band
    labels = {t.get_text() for a in axes for t in a.get_legend().get_texts()}
    assert "mean_abs.attention" in labels
    geo = axes[0]
    geo_labels = [t.get_text() for t in geo.get_legend().get_texts()]
    for control in ("null (up to 95th pct)", "lexical baseline", "beats null and lexical", "per template"):
        assert control in geo_labels
    assert geo.patches  # the geometry interval
    for tech in ("saliency", "lesion", "patching", "lens"):
        raw = next(a for a, t in zip(axes, titles) if t.startswith(f"{tech}:") and "@specific" not in t)
        spec = next(a for a, t in zip(axes, titles) if t.startswith(f"{tech}:") and "@specific" in t)
        slot = fig.axes.index(raw)  # the grid's slots, the empty ones included
        assert fig.axes.index(spec) == slot + 1 and slot % 2 == 0  # one row, side by side
        assert "reference set (0)" in [t.get_text() for t in spec.get_legend().get_texts()]
        assert not raw.patches  # the map drew the specific curve: its intervals are shaded there
        flat = (domain, tech) == ("dosage", "lesion")
        assert bool(spec.patches) is not flat
        assert ("not specific" in spec.get_title(loc="left")) is flat
    if domain == "age":
        assert any("probe_acc.gender" in t.get_text() for t in axes[1].get_legend().get_texts())


def test_map_figure_draws_not_specific_lanes(loaded):
    fig = F.map_figure(loaded.map_df, loaded.intervals, loaded.agreement, lanes=loaded.lanes)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts.count("lesion: not specific") == 1
    assert any(p.get_hatch() for p in fig.axes[0].patches)
    plain = F.map_figure(loaded.map_df, loaded.intervals, loaded.agreement)
    assert "lesion: not specific" not in [t.get_text() for t in plain.axes[0].texts]


def test_collapse_figure_draws_random_init(loaded):
    fig = F.collapse_figure(loaded.scores)
    assert any(ln.get_linestyle() == ":" for ax in fig.axes for ln in ax.lines)


def test_curves_figure_without_map(loaded):
    fig = curves_figure(loaded.scores, None, [], "age")
    titles = [a.get_title(loc="left") for a in fig.axes if a.get_visible()]
    assert "geometry: r2_umap.age" in titles and "patching: recovery\nraw" in titles
    assert "lens: lens_logprob@specific\ndomain minus reference set" in titles
    with pytest.raises(ReportError, match="no scores"):
        curves_figure(loaded.scores, None, [], "no-such-domain")


def test_umap_grid_age(loaded):
    emb = loaded.embeddings["age"]
    fig = F.umap_grid(emb, "age", marker_label="gender")
    panels = [a for a in fig.axes if a.get_title().startswith("layer")]
    assert len(panels) == 8
    assert all(len(a.collections) == 2 for a in panels)  # one scatter per gender marker
    assert any(a.get_ylabel() == "age" for a in fig.axes)  # a colorbar for the continuous label
    with pytest.raises(ReportError, match="not in the embedding"):
        F.umap_grid(emb, "age", layers=[99])


def test_umap_grid_progression_joins_paths(loaded):
    fig = F.umap_grid(loaded.embeddings["progression"], "stage", join_label="disease", layers=[0, 5, 11])
    panels = [a for a in fig.axes if a.get_title().startswith("layer")]
    assert len(panels) == 3
    assert all(len(a.lines) == 6 for a in panels)  # 3 diseases × 2 templates, each joined in stage order
    x, _ = panels[0].lines[0].get_data()
    assert len(x) == 10


def test_umap_grid_categorical_legend_is_literal(loaded):
    fig = F.umap_grid(loaded.embeddings["drugs"], "mechanism")
    texts = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    assert "ACE inhibitor \\$x\\$ <b>" in texts  # '$' escaped: drawn literally, not as mathtext
    fig.savefig(__import__("io").BytesIO(), format="png")


def test_collapse_figure(loaded):
    fig = F.collapse_figure(loaded.scores)
    assert [a.get_title(loc="left") for a in fig.axes] == ["mean_cosine", "effective_rank"]
    assert len(fig.axes[0].lines) >= 6
    with pytest.raises(ReportError):
        F.collapse_figure(loaded.scores[loaded.scores["technique"] != "geometry"])


def test_collapse_figure_shows_readings_and_the_collapsed_layers():
    import pandas as pd

    n, rows = 12, []
    for d in ("age", "drugs"):
        for metric, low in (("effective_rank", (4, 5)), ("effective_rank@standardized", ()),
                            ("effective_rank@notop3", (4, 5))):
            eff = np.full(n, 40.0)
            eff[list(low)] = 5.0
            rows += [{"domain": d, "technique": "geometry", "metric": metric, "layer": l, "value": v,
                      "ci_low": np.nan, "ci_high": np.nan} for l, v in enumerate(eff)]
    from medmap.analyses.findings import findings

    collapse = {f["id"]: f for f in findings(pd.DataFrame(rows).assign(model="m", n_layers=n), "m")["findings"]}
    collapse = collapse["activation_collapse"]
    assert collapse["layers"]["collapsed"] == [4, 5] and collapse["layers"]["standardized"] == []
    fig = F.collapse_figure(pd.DataFrame(rows), collapse)
    assert [a.get_title(loc="left") for a in fig.axes] == ["effective_rank", "effective rank: readings"]
    assert len(fig.axes[0].patches) == 2  # grey bands at layers 4 and 5 (a range in both domains)
    assert not F.collapse_figure(pd.DataFrame(rows)).axes[0].patches  # without the finding: no bands
    assert {ln.get_linestyle() for ln in fig.axes[1].lines} == {"--", "-."}


def test_findings_figure_draws_each_finding_curve_with_its_controls(loaded):
    from medmap.report.curves import findings_figure

    found = [{"id": "age_nonlinear", "title": "Non-linear age", "layer": 3, "verdict_raw": "reproduced",
              "verdict": "not reproduced"},
             {"id": "activation_collapse", "layer": 2},          # has a figure of its own
             {"id": "progression_circular.nowhere", "layer": 1}]  # its curve is not in the scores
    fig = findings_figure(loaded.scores, found)
    (ax,) = [a for a in fig.axes if a.get_visible()]
    assert ax.get_title(loc="left") == "Non-linear age\nreproduced -> not reproduced"
    labels = [ln.get_label() for ln in ax.lines] + [c.get_label() for c in ax.collections]
    assert "the finding's layer" in labels and "r2_umap.age" in labels
    assert "null (up to 95th pct)" in labels or "lexical baseline" in labels
    with pytest.raises(ReportError):
        findings_figure(loaded.scores, found[1:])


def test_position_grid_figure(loaded):
    import pandas as pd

    base = loaded.scores[(loaded.scores["technique"] == "patching") & (loaded.scores["metric"] == "recovery")]
    extra = []
    for k in range(3):
        d = base.copy()
        d["metric"] = f"recovery.pos-{k}"
        d["value"] = d["value"] * (k + 1)
        extra.append(d)
    scores = pd.concat([loaded.scores, *extra], ignore_index=True)
    from medmap.report.positions import position_grid_figure

    fig = position_grid_figure(scores)
    domains = list(dict.fromkeys(base["domain"]))
    heat = [a for a in fig.axes if a.get_title(loc="left").endswith("layer x position")]
    assert len(heat) == len(domains)
    assert [t.get_text() for t in heat[0].get_yticklabels()] == ["last", "last-1", "last-2"]
    img = heat[0].images[0].get_array()
    d0 = base[base["domain"] == heat[0].get_title(loc="left").split(":")[0]].sort_values("layer")["value"]
    np.testing.assert_allclose(img[2], 3 * d0.to_numpy())
    with pytest.raises(ReportError):
        position_grid_figure(loaded.scores)


def test_write_figures(tmp_path):
    import matplotlib.image as mpimg

    run = make_fake_run(tmp_path, n_layers=8, seed=3)
    paths = write_figures(run)
    names = {p.stem for p in paths}
    assert {"map", "collapse", "curves_age", "umap_age_age", "umap_progression_stage", "umap_drugs_mechanism",
            "umap_drugs_specialty", "umap_symptoms_category"} <= names
    assert {p.suffix for p in paths} == {".png", ".svg"} and len(paths) == 2 * len(names)
    assert all(p.parent == run / "figures" and p.stat().st_size > 1000 for p in paths)
    assert not list((run / "figures").glob(".tmp-*"))
    px = mpimg.imread(run / "figures" / "map.png")
    assert px.std() > 0.05
    assert (run / "figures" / "map.svg").read_text().lstrip().startswith("<?xml")


def test_figures_drawn_in_worker_processes_are_the_same_bytes(tmp_path):
    from medmap.report.data import load_run
    from medmap.report.render import render_figures

    run = load_run(make_fake_run(tmp_path, n_layers=6, seed=4))
    one = render_figures(run, tmp_path / "one", workers=1)
    two = render_figures(run, tmp_path / "two", workers=2)
    assert [e["name"] for e in one] == [e["name"] for e in two] and len(one) > 5
    for a, b in zip(one, two):
        assert a["png"] == b["png"]
        assert [p.read_bytes() for p in a["paths"]] == [p.read_bytes() for p in b["paths"]]


def test_cue_table_reads_both_sides_and_their_lexical_baselines():
    import pandas as pd

    from medmap.report.html import cue_table

    def rows(metric, values):
        return [{"domain": "drugs", "technique": "geometry", "metric": metric, "layer": l, "value": v}
                for l, v in enumerate(values)]

    df = pd.DataFrame(rows("silhouette_raw.mechanism[stem=true]", [0.1, 0.42, 0.3])
                      + rows("silhouette_raw.mechanism[stem=true]@lexical", [0.5] * 3)
                      + rows("silhouette_raw.mechanism[stem=false]", [0.01, 0.02, 0.07])
                      + rows("silhouette_raw.mechanism[neutral]", [0.9] * 3)  # a template row: not a cue
                      + rows("silhouette_raw.mechanism", [0.2] * 3))
    html = cue_table(df)
    assert html.count("<tr") == 2  # header and one row
    assert "0.42 (L1)" in html and "0.5" in html and "0.07 (L2)" in html and "0.9" not in html
    assert cue_table(df[~df["metric"].str.contains("=")]) == ""


# -- the HTML report -------------------------------------------------------------------------

def test_report_is_one_self_contained_file(report12, run12):
    assert report12 == run12 / "report.html"
    text = report12.read_text(encoding="utf-8")
    assert text.count("<html") == 1
    _assert_offline(text)
    assert 'id="plotly-js"' in text  # plotly.js inlined, not fetched
    assert "<title>medmap report: fake-model</title>" in text
    for section in ("map", "findings", "curves", "umap", "collapse", "provenance"):
        assert f'<section id="{section}">' in text
    assert text.count('<img src="data:image/png;base64,') >= 8
    assert 'class="verdict not-reproduced"' in text and 'class="verdict reproduced"' in text


def test_report_findings_show_controls_and_both_verdicts(report12):
    from medmap.report.html import findings_table

    text = report12.read_text(encoding="utf-8")
    assert "<th>controls</th><th>before controls</th><th>verdict</th>" in text
    assert "How to read the controls" in text
    assert "permutation null: 0.3, p 0.001, margin +0.67" in text and "not beaten" in text
    assert "lexical baseline:  <span" in text and "did not run" in text  # a control that did not run
    assert "<i>not specific</i>" in text  # the intervals table
    old = findings_table([{"id": "x", "verdict": "reproduced"}])  # findings.json written before the controls
    assert "<td>–</td>" in old and "reproduced" in old


def test_report_escapes_run_strings(report12):
    text = report12.read_text(encoding="utf-8")
    assert "<script>alert" not in text.lower()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &quot;quotes&quot; &#x27;single&#x27;" in text
    assert "<b>not bold</b>" not in text and "&lt;b&gt;not bold&lt;/b&gt;" in text
    assert "&lt;/script&gt;&lt;b&gt;cfg&lt;/b&gt;" in text  # the config, in <pre>
    # every <script> element closes where it should: no run string can end one early
    plain = _plain(text)
    assert len(re.findall(r"<script\b", plain)) == len(re.findall(r"</script>", plain)) == 3
    raw = re.search(r'<script type="application/json" id="medmap-data">(.*?)</script>', text, re.S).group(1)
    assert "<" not in raw
    data = json.loads(raw)
    items = data["umap"]["symptoms"]["items"]
    assert items[0]["prompt"] == f"Chest pain {MALICIOUS}"
    assert items[1]["id"] == "symptoms-</script>-t1"
    prog = data["umap"]["progression"]
    assert len(prog["paths"]) == 6 and prog["numeric"]["stage"] and not prog["numeric"]["disease"]


def test_report_tolerates_missing_files(tmp_path):
    run = make_fake_run(tmp_path, n_layers=6)
    for name in ("map.csv", "findings.json", "config.json", "provenance.json"):
        (run / name).unlink()
    shutil.rmtree(run / "embeddings")
    text = build_report(run, save_figures=False).read_text(encoding="utf-8")
    assert '<section id="map">' in text  # intervals from map.json alone still draw the map
    for gone in ('<section id="findings">', '<section id="umap">', "<h3>Provenance</h3>", "<h3>Resolved configuration"):
        assert gone not in text
    assert 'id="plotly-js"' not in text  # nothing interactive, so no plotly.js
    assert not (run / "figures").exists()
    (run / "map.json").unlink()
    text = build_report(run, save_figures=False).read_text(encoding="utf-8")
    assert '<section id="map">' not in text and '<section id="curves">' in text
    _assert_offline(text)


def test_report_needs_scores(tmp_path):
    run = make_fake_run(tmp_path, n_layers=4)
    (run / "scores.csv").unlink()
    with pytest.raises(MedmapError, match="scores.csv is missing"):
        build_report(run)
    with pytest.raises(ReportError, match="not a run folder"):
        build_report(tmp_path / "nowhere")


def test_bad_scores_name_the_file(tmp_path):
    run = make_fake_run(tmp_path, n_layers=4)
    (run / "scores.csv").write_text("model,layer\nx,1\n")
    with pytest.raises(ReportError, match=r"scores.csv: missing column\(s\) n_layers"):
        load_run(run)


# -- comparing models ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("cmp")
    return [make_fake_run(base, n_layers=12, model="fake-12"), make_fake_run(base, n_layers=30, model="fake-30",
                                                                             seed=1)]


def test_compare_report(two_runs, tmp_path):
    out = build_compare_report(two_runs, tmp_path / "cmp")
    assert out == tmp_path / "cmp" / "compare.html"
    assert (tmp_path / "cmp" / "figures" / "compare.png").stat().st_size > 1000
    assert (tmp_path / "cmp" / "figures" / "compare.svg").is_file()
    text = out.read_text(encoding="utf-8")
    _assert_offline(text)
    assert "fake-12" in text and "fake-30" in text and '<section id="intervals">' in text
    assert "<script>alert" not in text.lower()


def test_compare_figure_and_overlap(two_runs):
    runs = [load_run(p) for p in two_runs]
    fig = compare_figure(runs)
    maps = [a for a in fig.axes if a.images]
    assert len(maps) == 2 and all(a.get_xlim() == (0.0, 1.0) for a in maps)
    diff = interval_differences(runs, ["a", "b"])
    # 6 domains x 5 techniques, less the lane both maps mark "not specific" (dosage lesion: no interval)
    assert len(diff) == 29 and diff["overlap"].between(0, 1).all()
    same = interval_differences([runs[0], runs[0]], ["a", "a2"])
    assert (same["overlap"] == 1).all() and (same["a"] == same["a2"]).all()


# -- the page in a real browser --------------------------------------------------------------

def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def _chrome(binary: str, tmp: Path, url: str, *extra: str) -> subprocess.CompletedProcess:
    args = [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp / 'profile'}", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
            "--hide-scrollbars", *extra, url]
    return subprocess.run(args, capture_output=True, text=True, timeout=180)


class _BodyAttrs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.attrs: dict | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "body" and self.attrs is None:
            self.attrs = dict(attrs)


def _body(dom: str) -> dict:
    p = _BodyAttrs()
    p.feed(dom)
    assert p.attrs is not None, dom[:500]
    return p.attrs


@pytest.mark.skipif(_chromium() is None, reason="no Chromium found (apt-get install -y chromium) for the "
                                                 "browser test of the HTML report")
def test_report_in_headless_chromium(report12, tmp_path):
    import matplotlib.image as mpimg

    binary = _chromium()
    url = report12.resolve().as_uri()
    dom = _chrome(binary, tmp_path, url + "#selftest", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = _body(dom.stdout)
    assert body.get("data-errors") == "", body.get("data-errors")
    assert body.get("data-ready") == "1", "plots were not drawn"
    assert body.get("data-slider-test") == "ok", body.get("data-slider-test")
    assert body.get("data-external-refs") == "none", body.get("data-external-refs")
    assert dom.stdout.count('type="range"') == 4 and dom.stdout.count('class="main-svg"') >= 4
    assert 'data-title="Share chart' not in dom.stdout  # no upload-to-cloud button
    assert "Uncaught" not in dom.stderr

    shot = tmp_path / "report.png"
    res = _chrome(binary, tmp_path, url, f"--screenshot={shot}", "--window-size=1280,2000")
    assert res.returncode == 0 and shot.is_file(), res.stderr[-2000:]
    px = mpimg.imread(shot)
    assert px.shape[:2] == (2000, 1280)
    assert px[..., :3].std() > 0.05  # not a blank page
    assert (px[..., :3].mean(axis=2) < 0.5).mean() > 0.01  # some dark ink (text, header)


@pytest.mark.skipif(_chromium() is None, reason="no Chromium found (apt-get install -y chromium)")
def test_compare_report_in_headless_chromium(two_runs, tmp_path):
    out = build_compare_report(two_runs, tmp_path / "cmp")
    dom = _chrome(_chromium(), tmp_path, out.resolve().as_uri(), "--dump-dom")
    body = _body(dom.stdout)
    assert body.get("data-errors") == "" and body.get("data-ready") == "1"
    assert "fake-30" in dom.stdout and dom.stdout.count("<tr") > 10


def test_robustness_section_is_escaped_and_optional(tmp_path):
    run = make_fake_run(tmp_path, n_layers=6)
    text = build_report(run, save_figures=False).read_text(encoding="utf-8")
    assert '<section id="robustness">' not in text
    row = {"group": "seed", "domain": MALICIOUS, "technique": "lesion", "start": 1, "end": 3, "n_variants": 3,
           "n_present": 2, "start_min": 1, "start_max": 2, "start_std": 0.5, "end_min": 3, "end_max": 3,
           "end_std": 0.0, "start_depth_min": 1 / 6, "start_depth_max": 2 / 6, "end_depth_min": 4 / 6,
           "end_depth_max": 4 / 6, "identical": False}
    unmeasured = {**row, "group": "template", "n_variants": 0, "n_present": 0, "start_min": None}
    (run / "robustness.json").write_text(json.dumps({
        "settings": {"seeds": [0, 1, 2], "templates": {"age": ["t0", "<t1>"]}},
        "intervals": [row, unmeasured],
        "skipped": [{"group": "template", "variant": "<t1>", "domain": "age", "technique": "patching",
                     "reason": f"no pair {MALICIOUS}"}]}))
    text = build_report(run, save_figures=False).read_text(encoding="utf-8")
    section = re.search(r'<section id="robustness">(.*?)</section>', text, re.S).group(1)
    assert "<script>alert" not in section.lower() and "&lt;script&gt;alert" in section
    assert "&lt;t1&gt;" in section and "seeds 0, 1, 2" in section
    assert "2/3" in section and "L1–L2 (sd 0.5)" in section and "varies" in section and "not measured" in section
    (run / "robustness.json").write_text("[]")
    with pytest.raises(ReportError, match="robustness.json"):
        load_run(run)
