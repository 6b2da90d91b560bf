"""Medical concept sets: data files shipped in the package, their schema, loading and validation, and
the table of domain facts (which labels each domain's metrics use, and of which kind)."""

from medmap.concepts.domains import (
    KINDS,
    DomainSpec,
    LabelSpec,
    builtin_spec,
    builtin_specs,
    default_domains,
    domain_order,
    infer_spec,
    spec_from_dict,
)
from medmap.concepts.schema import ConceptItem, PatchPair
from medmap.concepts.sets import (
    ConceptSet,
    available_builtin,
    is_neutral,
    load_builtin,
    load_file,
    metric_problems,
    parse_jsonl,
    resolve_sets,
    spec_file,
    to_jsonl,
    validate_sets,
)

__all__ = [
    "KINDS", "ConceptItem", "ConceptSet", "DomainSpec", "LabelSpec", "PatchPair", "available_builtin",
    "builtin_spec", "builtin_specs", "default_domains", "domain_order", "infer_spec", "is_neutral", "load_builtin", "load_file",
    "metric_problems", "parse_jsonl", "resolve_sets", "spec_file", "spec_from_dict", "to_jsonl", "validate_sets",
]
