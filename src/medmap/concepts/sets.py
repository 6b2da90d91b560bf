"""Loading, validating, hashing and exporting concept sets (JSONL files).

Each set carries its domain's spec (``medmap.concepts.domains``): declared in the file (a header line
``{"domain_spec": {"name": ..., ...}}``) or in ``<file stem>.domains.yaml`` beside it, else the built-in
table's entry for that name, else inferred from the label values."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from medmap.concepts.domains import DomainSpec, builtin_spec, default_domains, domain_order, infer_spec, spec_from_dict
from medmap.concepts.schema import ConceptItem
from medmap.errors import ConceptError

SPEC_KEY = "domain_spec"
"""The key of a header line declaring a domain in a concept file."""


def is_neutral(template: str | None) -> bool:
    """Whether a template id names a neutral (task-free) template: one that names the concept and asks
    nothing (ids ``neutral``, ``neutral2``, ...). Their items carry no answer and no pair."""
    return bool(template) and template.startswith("neutral")


@dataclass(frozen=True)
class ConceptSet:
    """The items of one domain, with where they came from and a content hash."""

    domain: str
    items: tuple[ConceptItem, ...]
    origin: str
    """File the set was read from (``builtin:NAME`` for a shipped set)."""
    hash: str = field(default="")
    """sha256 of the canonical JSON of the items: the set's identity in caches and provenance."""
    spec: DomainSpec | None = None
    """What the domain's metrics need (labels and kinds, primary label); when not given: the built-in
    table's entry for the domain, else inferred from the items (``spec.inferred`` says what)."""

    def __post_init__(self) -> None:
        if not self.hash:
            object.__setattr__(self, "hash", _items_hash(self.items))
        if self.spec is None:
            object.__setattr__(self, "spec", builtin_spec(self.domain) or infer_spec(self.domain, self.items))

    def __len__(self) -> int:
        return len(self.items)

    @property
    def pairs(self) -> list[ConceptItem]:
        """Items that carry an activation-patching pair."""
        return [it for it in self.items if it.pair is not None]

    @property
    def answered(self) -> list[ConceptItem]:
        """Items that carry a reference answer."""
        return [it for it in self.items if it.answer is not None]

    def label_names(self) -> list[str]:
        names: list[str] = []
        for it in self.items:
            names.extend(k for k in it.labels if k not in names)
        return names

    def label_values(self, name: str) -> list:
        """The value of label ``name`` for every item (None where an item lacks it)."""
        return [it.labels.get(name) for it in self.items]

    def summary(self) -> dict:
        return {
            "domain": self.domain,
            "n_items": len(self.items),
            "labels": {n: len({v for v in self.label_values(n) if v is not None}) for n in self.label_names()},
            "n_pairs": len(self.pairs),
        }

    def subset(self, keep) -> "ConceptSet":
        items = tuple(it for it in self.items if keep(it))
        return ConceptSet(self.domain, items, self.origin, spec=self.spec)


def _items_hash(items) -> str:
    h = hashlib.sha256()
    for it in items:
        h.update(json.dumps(it.model_dump(exclude_none=True), sort_keys=True).encode())
        h.update(b"\n")
    return h.hexdigest()


def _format_validation(path: str, lineno: int, item_id: str | None, err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"]) or "item"
        parts.append(f"field '{loc}': {e['msg']}")
    who = f" (item '{item_id}')" if item_id else ""
    return f"{path}, line {lineno}{who}: " + "; ".join(parts)


def parse_jsonl(text: str, origin: str, specs: dict[str, DomainSpec] | None = None) -> list[ConceptSet]:
    """Parse JSONL text into one ConceptSet per domain, checking every line and id. Header lines
    ``{"domain_spec": {"name": ..., ...}}`` declare domains; ``specs`` are declarations from elsewhere
    (a YAML file beside the concept file)."""
    items: list[ConceptItem] = []
    seen: dict[str, int] = {}
    declared: dict[str, DomainSpec] = dict(specs or {})
    for lineno, line in enumerate(text.splitlines(), start=1):
        s = line.strip()
        if not s or s.startswith("//"):
            continue
        try:
            raw = json.loads(s)
        except json.JSONDecodeError as e:
            raise ConceptError(f"{origin}, line {lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(raw, dict):
            raise ConceptError(f"{origin}, line {lineno}: each line must be a JSON object, got {type(raw).__name__}")
        if SPEC_KEY in raw:
            spec = _header_spec(raw, f"{origin}, line {lineno}")
            if spec.name in declared:
                raise ConceptError(f"{origin}, line {lineno}: domain '{spec.name}' is declared twice")
            declared[spec.name] = spec
            continue
        item_id = raw.get("id") if isinstance(raw.get("id"), str) else None
        try:
            item = ConceptItem.model_validate(raw)
        except ValidationError as e:
            raise ConceptError(_format_validation(origin, lineno, item_id, e)) from None
        if item.id in seen:
            raise ConceptError(
                f"{origin}, line {lineno}: duplicate id '{item.id}' (first on line {seen[item.id]})"
            )
        seen[item.id] = lineno
        items.append(item)
    if not items:
        raise ConceptError(f"{origin}: the concept set is empty (no items)")
    by_domain: dict[str, list[ConceptItem]] = {}
    for it in items:
        by_domain.setdefault(it.domain, []).append(it)
    unused = sorted(set(declared) - set(by_domain))
    if unused:
        raise ConceptError(f"{origin}: domain(s) {', '.join(unused)} declared but no item has them")
    return [ConceptSet(d, tuple(v), origin, spec=declared.get(d)) for d, v in by_domain.items()]


def _header_spec(raw: dict, where: str) -> DomainSpec:
    extra = sorted(set(raw) - {SPEC_KEY})
    if extra:
        raise ConceptError(f"{where}: a {SPEC_KEY} line holds nothing else (found {', '.join(extra)})")
    d = raw[SPEC_KEY]
    if not isinstance(d, dict) or not isinstance(d.get("name"), str):
        raise ConceptError(f"{where}: {SPEC_KEY} must be an object with a 'name'")
    d = dict(d)
    return spec_from_dict(d.pop("name"), d, where)


def spec_file(path: str | Path) -> Path:
    """Where domain declarations for a concept file may be kept: ``<stem>.domains.yaml`` beside it."""
    p = Path(path)
    return p.with_name(p.stem + ".domains.yaml")


def _read_spec_file(path: Path) -> dict[str, DomainSpec]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise ConceptError(f"{path}: cannot read domain declarations ({type(e).__name__})") from None
    if not isinstance(data, dict):
        raise ConceptError(f"{path}: expected a mapping of domain name -> spec")
    return {name: spec_from_dict(str(name), d, str(path)) for name, d in data.items()}


def load_file(path: str | Path) -> list[ConceptSet]:
    """Read a user's JSONL concept file (one or several domains)."""
    p = Path(path)
    if not p.is_file():
        raise ConceptError(f"{p}: no such concept file")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConceptError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    yaml_path = spec_file(p)
    return parse_jsonl(text, str(p), _read_spec_file(yaml_path) if yaml_path.is_file() else None)


def builtin_path(domain: str):
    if builtin_spec(domain) is None:
        raise ConceptError(f"unknown domain '{domain}': choose from {', '.join(domain_order())}")
    return resources.files("medmap.concepts").joinpath("data", f"{domain}.jsonl")


def available_builtin(all_domains: bool = False) -> list[str]:
    """The built-in sets shipped in this version: the default (medical) domains, or with
    ``all_domains`` every built-in set (the reference set too)."""
    names = domain_order() if all_domains else default_domains()
    return [d for d in names if builtin_path(d).is_file()]


def load_builtin(domain: str) -> ConceptSet:
    """Load a concept set shipped with medmap."""
    res = builtin_path(domain)
    if not res.is_file():
        raise ConceptError(f"the built-in '{domain}' concept set is not shipped in this version of medmap")
    sets = parse_jsonl(res.read_text(encoding="utf-8"), f"builtin:{domain}")
    return ConceptSet(domain, sets[0].items, f"builtin:{domain}", spec=builtin_spec(domain))


def resolve_sets(domains: list[str] | None, concepts_file: str | Path | None = None) -> list[ConceptSet]:
    """The sets a run uses: a user file (optionally filtered by domain) or the built-in sets."""
    if concepts_file is not None:
        sets = load_file(concepts_file)
        if domains:
            missing = [d for d in domains if d not in {s.domain for s in sets}]
            if missing:
                raise ConceptError(f"{concepts_file}: has no items of domain(s) {', '.join(missing)}")
            sets = [s for s in sets if s.domain in domains]
        return sets
    names = list(domains) if domains else available_builtin()
    return [load_builtin(d) for d in names]


def metric_problems(cs: ConceptSet) -> list[str]:
    """Problems that would make a domain's geometry metrics meaningless (found before any model runs):
    a metric label of the domain's spec missing on some item, a continuous or ordinal label that is not
    a number, a categorical label with one value or a value with a single member."""
    problems = []
    for lab in cs.spec.labels:
        name = lab.name
        values = cs.label_values(name)
        missing = [it.id for it, v in zip(cs.items, values) if v is None]
        if missing:
            problems.append(f"label '{name}' is missing on {len(missing)} item(s), e.g. '{missing[0]}'")
            continue
        if lab.kind != "categorical":
            bad = [it.id for it, v in zip(cs.items, values) if isinstance(v, bool) or not isinstance(v, (int, float))]
            if bad:
                problems.append(f"label '{name}' ({lab.kind}) must be a number, e.g. item '{bad[0]}'")
            continue
        counts = Counter(str(v) for v in values)
        if len(counts) < 2:
            problems.append(f"label '{name}' has a single value ({next(iter(counts))!r}); its metrics need two")
        singles = [v for v, c in counts.items() if c < 2]
        if singles:
            problems.append(
                f"label '{name}' value(s) {', '.join(map(repr, singles[:5]))} have a single member; "
                "silhouette needs at least two per value"
            )
    return problems


def validate_sets(sets: list[ConceptSet]) -> None:
    """Raise a ConceptError naming the file and label if any set cannot be analysed."""
    for cs in sets:
        probs = metric_problems(cs)
        if probs:
            raise ConceptError(f"{cs.origin} (domain '{cs.domain}'): " + "; ".join(probs))


def to_jsonl(cs: ConceptSet) -> str:
    return "".join(json.dumps(it.model_dump(exclude_none=True), ensure_ascii=False) + "\n" for it in cs.items)
