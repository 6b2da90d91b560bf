"""Loading, validating, hashing and exporting concept sets (JSONL files)."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from medmap.concepts.schema import METRIC_LABELS, ConceptItem
from medmap.errors import ConceptError

BUILTIN_DOMAINS = ("age", "symptoms", "diseases", "progression", "drugs", "dosage")
"""The medical domains mapped by default."""
REFERENCE = "reference"
"""The built-in general-knowledge control set: loaded by name (``load_builtin('reference')``,
``--domains reference``), never one of the default domains."""


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

    def __post_init__(self) -> None:
        if not self.hash:
            object.__setattr__(self, "hash", _items_hash(self.items))

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
        return ConceptSet(self.domain, items, self.origin)


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


def parse_jsonl(text: str, origin: str) -> list[ConceptSet]:
    """Parse JSONL text into one ConceptSet per domain, checking every line and id."""
    items: list[ConceptItem] = []
    seen: dict[str, int] = {}
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
    return [ConceptSet(d, tuple(v), origin) for d, v in by_domain.items()]


def load_file(path: str | Path) -> list[ConceptSet]:
    """Read a user's JSONL concept file (one or several domains)."""
    p = Path(path)
    if not p.is_file():
        raise ConceptError(f"{p}: no such concept file")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConceptError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    return parse_jsonl(text, str(p))


def builtin_path(domain: str):
    if domain not in BUILTIN_DOMAINS + (REFERENCE,):
        raise ConceptError(f"unknown domain '{domain}': choose from {', '.join(BUILTIN_DOMAINS + (REFERENCE,))}")
    return resources.files("medmap.concepts").joinpath("data", f"{domain}.jsonl")


def available_builtin() -> list[str]:
    return [d for d in BUILTIN_DOMAINS if builtin_path(d).is_file()]


def load_builtin(domain: str) -> ConceptSet:
    """Load a concept set shipped with medmap."""
    res = builtin_path(domain)
    if not res.is_file():
        raise ConceptError(f"the built-in '{domain}' concept set is not shipped in this version of medmap")
    sets = parse_jsonl(res.read_text(encoding="utf-8"), f"builtin:{domain}")
    return ConceptSet(domain, sets[0].items, f"builtin:{domain}")


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
    """Problems that would make a domain's geometry metrics meaningless (found before any model runs)."""
    problems = []
    for name in METRIC_LABELS.get(cs.domain, ()):
        values = cs.label_values(name)
        missing = [it.id for it, v in zip(cs.items, values) if v is None]
        if missing:
            problems.append(f"label '{name}' is missing on {len(missing)} item(s), e.g. '{missing[0]}'")
            continue
        if cs.domain == "age" and name == "age":
            bad = [it.id for it, v in zip(cs.items, values) if not isinstance(v, int)]
            if bad:
                problems.append(f"label 'age' must be an integer, e.g. item '{bad[0]}'")
            continue
        counts = Counter(values)
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
