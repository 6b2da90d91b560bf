"""The four techniques, each returning per-layer scores with bootstrap confidence intervals."""
