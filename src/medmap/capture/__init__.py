"""Capture and intervention: the only package that touches torch hooks."""

from medmap.capture.activations import POOLINGS, capture, capture_batch, pool
from medmap.capture.batching import Batch, encode
from medmap.capture.hooks import attached_hooks

__all__ = ["POOLINGS", "Batch", "attached_hooks", "capture", "capture_batch", "encode", "pool"]
