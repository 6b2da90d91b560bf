"""Knowledge maps: from per-layer curves to layer intervals per domain and technique, and comparisons
of maps across models on a normalised depth axis. Pure pandas/numpy/scipy (no torch)."""

from medmap.maps.compare import DEPTH_BINS, compare_maps, covered_bins
from medmap.maps.layer_map import (
    PRIMARY_METRICS,
    LayerMap,
    build_map,
    load_map,
    primary_metric,
)
from medmap.maps.recommend import RecommendOptions, peft_config, recommend
from medmap.maps.robustness import Robustness, interval_spread, layer_coverage, measure_robustness
from medmap.maps.rules import MapRules, fastest_rise, intervals_for, smooth, top_runs

__all__ = [
    "PRIMARY_METRICS",
    "LayerMap",
    "MapRules",
    "RecommendOptions",
    "Robustness",
    "build_map",
    "DEPTH_BINS",
    "compare_maps",
    "covered_bins",
    "fastest_rise",
    "interval_spread",
    "intervals_for",
    "layer_coverage",
    "load_map",
    "measure_robustness",
    "peft_config",
    "primary_metric",
    "recommend",
    "smooth",
    "top_runs",
]
