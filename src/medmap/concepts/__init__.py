"""Medical concept sets: data files shipped in the package, their schema, loading and validation."""

from medmap.concepts.schema import METRIC_LABELS, ConceptItem, PatchPair
from medmap.concepts.sets import (
    BUILTIN_DOMAINS,
    ConceptSet,
    available_builtin,
    load_builtin,
    load_file,
    metric_problems,
    parse_jsonl,
    resolve_sets,
    to_jsonl,
    validate_sets,
)

__all__ = [
    "BUILTIN_DOMAINS", "METRIC_LABELS", "ConceptItem", "ConceptSet", "PatchPair", "available_builtin",
    "load_builtin", "load_file", "metric_problems", "parse_jsonl", "resolve_sets", "to_jsonl", "validate_sets",
]
