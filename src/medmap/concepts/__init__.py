"""Medical concept sets: data files shipped in the package, their schema, loading and validation."""

from medmap.concepts.schema import METRIC_LABELS, ConceptItem, PatchPair
from medmap.concepts.sets import (
    BUILTIN_DOMAINS,
    REFERENCE,
    ConceptSet,
    available_builtin,
    is_neutral,
    load_builtin,
    load_file,
    metric_problems,
    parse_jsonl,
    resolve_sets,
    to_jsonl,
    validate_sets,
)

__all__ = [
    "BUILTIN_DOMAINS", "METRIC_LABELS", "REFERENCE", "ConceptItem", "ConceptSet", "PatchPair", "available_builtin",
    "is_neutral", "load_builtin", "load_file", "metric_problems", "parse_jsonl", "resolve_sets", "to_jsonl", "validate_sets",
]
