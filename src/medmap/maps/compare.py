"""Comparing knowledge maps of models with different numbers of layers, on a normalised depth axis.

Depth runs from 0 (first decoder layer) to 1 (after the last). Layer ``l`` of an ``n``-layer model
occupies the depth cell ``[l/n, (l+1)/n)``; the depth axis is cut into ``bins`` equal bins, and a bin
is *covered* by a (model, domain, technique) when one of its intervals covers a layer whose depth
falls in the bin. Two readings of "falls in" are offered:

* ``coverage="span"`` (default): the layer's depth cell overlaps the bin. A model with fewer layers
  than bins then still covers contiguous bins, so models of different depths compare fairly.
* ``coverage="point"``: the layer's depth ``l/n`` itself lies in the bin. With fewer layers than bins
  some bins hold no layer and are never covered.

All the arithmetic is on integers, so bin edges are exact.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from medmap.errors import MedmapError
from medmap.maps._common import domain_key, technique_key
from medmap.maps.layer_map import LayerMap

DEPTH_COLUMNS = ("model", "domain", "technique", "depth_bin", "covered")


DEPTH_BINS = 20
"""Default number of depth bins (0.05 wide) of every comparison of maps across models."""


def covered_bins(start: int, end: int, n: int, bins: int = DEPTH_BINS, coverage: str = "span") -> np.ndarray:
    """Boolean mask over depth bins covered by layers ``start..end`` of an ``n``-layer model."""
    b = np.arange(bins)
    if coverage == "span":
        # [start/n, (end+1)/n) overlaps [b/bins, (b+1)/bins)
        return (start * bins < (b + 1) * n) & ((end + 1) * bins > b * n)
    hit = np.zeros(bins, dtype=bool)
    hit[[(layer * bins) // n for layer in range(start, end + 1)]] = True
    return hit


def _models(maps: list[LayerMap]) -> dict[str, LayerMap]:
    if not maps:
        raise MedmapError("compare_maps needs at least one knowledge map")
    owner: dict[str, LayerMap] = {}
    for k, kmap in enumerate(maps):
        if not isinstance(kmap, LayerMap):
            raise MedmapError(f"compare_maps: item {k} is a {type(kmap).__name__}, not a LayerMap")
        for model in kmap.n_layers:
            if model in owner:
                raise MedmapError(f"compare_maps: model {model!r} appears in more than one map; "
                                  "rename one (the model column tells models apart)")
            owner[model] = kmap
    return owner


def compare_maps(maps: list[LayerMap], bins: int = DEPTH_BINS, coverage: str = "span") -> dict:
    """Compare models' maps on a depth axis cut into ``bins`` bins.

    Returns a dict with

    * ``depth_table``: DataFrame ``model, domain, technique, depth_bin, covered``, one row per depth
      bin for every (model, domain, technique) in the maps;
    * ``differences``: per (domain, technique) and pair of models that both have it, a dict
      ``domain, technique, model_a, model_b, jaccard, only_a, only_b``: the Jaccard overlap of their
      covered bins (NaN when neither covers any bin) and the bins only one of them covers;
    * ``summary``: per model, ``n_layers`` and its ``intervals`` as depth ranges
      (``domain, technique, start, end, start_depth, end_depth``);
    * ``bins`` and ``coverage``: the settings used.

    Raises :class:`MedmapError` when the list is empty, ``bins < 1``, ``coverage`` is unknown, or two
    maps hold the same model name.
    """
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise MedmapError(f"compare_maps: bins must be an integer >= 1, got {bins!r}")
    if coverage not in ("span", "point"):
        raise MedmapError(f"compare_maps: coverage must be 'span' or 'point', got {coverage!r}")
    owner = _models(maps)
    bins = int(bins)

    covered: dict[tuple[str, str, str], np.ndarray] = {}
    summary: dict[str, dict] = {}
    for model in sorted(owner):
        kmap = owner[model]
        n = kmap.n_layers[model]
        rows = kmap.table[kmap.table["model"] == model]
        for domain, technique in rows[["domain", "technique"]].drop_duplicates().itertuples(
                index=False, name=None):
            covered[(model, domain, technique)] = np.zeros(bins, dtype=bool)
        spans = []
        for iv in kmap.intervals:
            if iv["model"] != model:
                continue
            key = (model, iv["domain"], iv["technique"])
            mask = covered_bins(int(iv["start"]), int(iv["end"]), n, bins, coverage)
            covered[key] = covered.get(key, np.zeros(bins, dtype=bool)) | mask
            spans.append({k: iv[k] for k in ("domain", "technique", "start", "end", "start_depth",
                                               "end_depth")})
        summary[model] = {"n_layers": n, "intervals": spans}

    order = sorted(covered, key=lambda k: (k[0], domain_key(k[1]), technique_key(k[2])))
    depth_table = pd.DataFrame(
        [(m, d, t, b, bool(covered[(m, d, t)][b])) for m, d, t in order for b in range(bins)],
        columns=list(DEPTH_COLUMNS))
    depth_table = depth_table.astype({"model": str, "domain": str, "technique": str,
                                      "depth_bin": "int64", "covered": bool})

    differences = []
    pairs = sorted({(d, t) for _, d, t in covered}, key=lambda k: (domain_key(k[0]),
                                                                   technique_key(k[1])))
    for domain, technique in pairs:
        models = sorted(m for m, d, t in covered if (d, t) == (domain, technique))
        for a, b in combinations(models, 2):
            ca, cb = covered[(a, domain, technique)], covered[(b, domain, technique)]
            union = int((ca | cb).sum())
            jaccard = float((ca & cb).sum() / union) if union else float("nan")
            differences.append({"domain": domain, "technique": technique, "model_a": a,
                                "model_b": b, "jaccard": jaccard,
                                "only_a": [int(x) for x in np.flatnonzero(ca & ~cb)],
                                "only_b": [int(x) for x in np.flatnonzero(cb & ~ca)]})
    return {"depth_table": depth_table, "differences": differences, "summary": summary,
            "bins": bins, "coverage": coverage}
