"""Facts about domains, as data: which labels a domain's metrics use, of which kind, and which one is
the map's geometry curve.

The built-in domains are the entries of ``domains.yaml`` beside this file (see its header for the
meaning of each field). A user's concept file may use any domain name: it declares the domain in a
header line ``{"domain_spec": {"name": ..., "labels": {...}, "primary": ...}}`` or in a YAML file
beside it (``<file stem>.domains.yaml``, mapping domain name -> spec); without a declaration the spec
is inferred from the label values (:func:`infer_spec`) and :attr:`DomainSpec.inferred` says what was
inferred. Everything downstream (validation, geometry metrics, the map, the report) reads a
:class:`DomainSpec`, never a domain's name.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from medmap.errors import ConceptError

KINDS = ("categorical", "ordinal", "continuous")
Kind = Literal["categorical", "ordinal", "continuous"]
DOMAIN_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
"""A domain name is also a file name (``embeddings/<domain>.json``): letters, digits, '_' and '-'."""
CONTINUOUS_MIN_VALUES = 10
"""Inference: a numeric label with at least this many distinct values is continuous, else ordinal."""


@dataclass(frozen=True)
class LabelSpec:
    """One metric label of a domain."""

    name: str
    kind: str
    """categorical, ordinal or continuous."""
    within: str | None = None
    """Ordinal labels: the categorical label whose groups the order is compared in (e.g. stage within
    disease)."""
    boundaries: tuple[int, ...] = ()
    """Continuous labels: named steps ``a -> a+1`` reported as ``boundary_<a>_<a+1>.<label>``."""

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"kind": self.kind}
        if self.within:
            d["within"] = self.within
        if self.boundaries:
            d["boundaries"] = list(self.boundaries)
        return d


@dataclass(frozen=True)
class DomainSpec:
    """What a domain's metrics need: its labels and their kinds, the primary label, optional split and
    contrasts, and how it is shown."""

    name: str
    labels: tuple[LabelSpec, ...] = ()
    primary: str | None = None
    """The label whose metric is the map's geometry curve (None: the domain has no geometry lane)."""
    split_by: str | None = None
    contrasts: tuple[tuple[str, str], ...] = ()
    cues: tuple[str, ...] = ()
    """Boolean item labels that mark a wording giving a label away (a drug name carrying its class stem):
    the geometry's cheap metrics are also computed on the items with and without each cue."""
    title: str = ""
    colour: str | None = None
    medical: bool = True
    default: bool = True
    """Mapped when no domain is named (the built-in reference set is not)."""
    version: int = 1
    inferred: tuple[str, ...] = field(default=(), compare=False)
    """What was inferred rather than declared (empty for a declared spec)."""

    def label(self, name: str) -> LabelSpec | None:
        return next((lab for lab in self.labels if lab.name == name), None)

    def of_kind(self, kind: str) -> list[LabelSpec]:
        return [lab for lab in self.labels if lab.kind == kind]

    @property
    def primary_metric(self) -> str | None:
        """The geometry metric the map draws for this domain."""
        lab = self.label(self.primary) if self.primary else None
        if lab is None:
            return None
        prefix = {"categorical": "silhouette_umap", "continuous": "r2_umap", "ordinal": "spearman"}[lab.kind]
        return f"{prefix}.{lab.name}"

    def to_dict(self) -> dict:
        """The spec in the form of ``domains.yaml`` (JSON-ready; ``spec_from_dict`` rebuilds it)."""
        d: dict[str, Any] = {"labels": {lab.name: lab.to_dict() for lab in self.labels}, "primary": self.primary,
                             "title": self.title, "medical": self.medical, "default": self.default,
                             "version": self.version}
        if self.split_by:
            d["split_by"] = self.split_by
        if self.contrasts:
            d["contrasts"] = [list(c) for c in self.contrasts]
        if self.cues:
            d["cues"] = list(self.cues)
        if self.colour:
            d["colour"] = self.colour
        if self.inferred:
            d["inferred"] = list(self.inferred)
        return d


class _LabelModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Kind
    within: str | None = None
    boundaries: list[int] = Field(default_factory=list)


class _SpecModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    labels: dict[str, Union[Kind, _LabelModel]] = Field(default_factory=dict)
    primary: str | None = None
    split_by: str | None = None
    contrasts: list[tuple[str, str]] = Field(default_factory=list)
    cues: list[str] = Field(default_factory=list)
    title: str = ""
    colour: str | None = None
    medical: bool = True
    default: bool = True
    version: int = Field(default=1, ge=1)
    inferred: list[str] = Field(default_factory=list)

    @field_validator("colour")
    @classmethod
    def _colour(cls, v):
        if v is not None and not re.fullmatch(r"#[0-9a-fA-F]{6}", v):
            raise ValueError("colour must be #rrggbb")
        return v


def spec_from_dict(name: str, d: Any, where: str = "domain spec") -> DomainSpec:
    """A :class:`DomainSpec` from its dict form, checked: kinds, ``within`` / ``split_by`` /
    ``contrasts`` naming categorical labels of the spec, ``primary`` naming one of its labels."""
    if not isinstance(name, str) or not DOMAIN_NAME.match(name):
        raise ConceptError(f"{where}: domain name {name!r} must start with a letter and hold only letters, "
                           "digits, '_' and '-' (at most 64 characters)")
    try:
        m = _SpecModel.model_validate(d if d is not None else {})
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"]) or "spec"
        raise ConceptError(f"{where} of domain '{name}': {loc}: {err['msg']}") from None
    labels = []
    for lname, v in m.labels.items():
        lab = _LabelModel(kind=v) if isinstance(v, str) else v
        labels.append(LabelSpec(lname, lab.kind, lab.within, tuple(lab.boundaries)))
    spec = DomainSpec(name, tuple(labels), m.primary, m.split_by, tuple(tuple(c) for c in m.contrasts),
                      tuple(m.cues), m.title, m.colour, m.medical, m.default, m.version, tuple(m.inferred))
    _check_references(spec, where)
    return spec


def _check_references(spec: DomainSpec, where: str) -> None:
    def categorical(name: str, what: str) -> None:
        lab = spec.label(name)
        if lab is None or lab.kind != "categorical":
            raise ConceptError(f"{where} of domain '{spec.name}': {what} '{name}' must name a categorical label "
                               f"of the spec (labels: {', '.join(l.name for l in spec.labels) or 'none'})")

    if spec.primary is not None and spec.label(spec.primary) is None:
        raise ConceptError(f"{where} of domain '{spec.name}': primary '{spec.primary}' is not one of its labels "
                           f"({', '.join(l.name for l in spec.labels) or 'none'})")
    for lab in spec.labels:
        if lab.within is not None:
            if lab.kind != "ordinal":
                raise ConceptError(f"{where} of domain '{spec.name}': label '{lab.name}': 'within' is only for "
                                   "ordinal labels")
            categorical(lab.within, f"label '{lab.name}' within")
        if lab.boundaries and lab.kind != "continuous":
            raise ConceptError(f"{where} of domain '{spec.name}': label '{lab.name}': 'boundaries' are only for "
                               "continuous labels")
    if spec.split_by is not None:
        categorical(spec.split_by, "split_by")
    for a, b in spec.contrasts:
        categorical(a, "contrast")
        categorical(b, "contrast")
    for cue in spec.cues:
        if spec.label(cue) is not None:
            raise ConceptError(f"{where} of domain '{spec.name}': cue '{cue}' is a metric label; a cue is a boolean "
                               "item label the metrics do not use")


@lru_cache(maxsize=1)
def _builtin_table() -> dict[str, DomainSpec]:
    import yaml

    text = resources.files("medmap.concepts").joinpath("domains.yaml").read_text(encoding="utf-8")
    return {name: spec_from_dict(name, d, "domains.yaml") for name, d in yaml.safe_load(text).items()}


def builtin_specs() -> dict[str, DomainSpec]:
    """The built-in domains, in the table's order (which is also the canonical display order)."""
    return dict(_builtin_table())


def builtin_spec(name: str) -> DomainSpec | None:
    return _builtin_table().get(name)


def default_domains() -> tuple[str, ...]:
    """The domains mapped when none is named: the built-in medical domains."""
    return tuple(n for n, s in _builtin_table().items() if s.default)


def domain_order() -> tuple[str, ...]:
    """Every built-in domain, in canonical order (for sorting; other domains follow alphabetically)."""
    return tuple(_builtin_table())


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def infer_spec(name: str, items) -> DomainSpec:
    """A spec for an undeclared domain, from its items' label values: a label every item carries is
    categorical when its values are strings or booleans (and every value has at least two members),
    continuous when numeric with at least :data:`CONTINUOUS_MIN_VALUES` distinct values, else ordinal.
    The primary label is the first categorical one (else continuous, else ordinal)."""
    names: list[str] = []
    for it in items:
        names.extend(k for k in it.labels if k not in names)
    labels, notes = [], []
    for lname in names:
        values = [it.labels.get(lname) for it in items]
        if any(v is None for v in values):
            notes.append(f"'{lname}' left out (missing on some items)")
            continue
        if all(_is_number(v) for v in values):
            kind = "continuous" if len(set(values)) >= CONTINUOUS_MIN_VALUES else "ordinal"
        else:
            counts = Counter(str(v) for v in values)
            if len(counts) < 2 or min(counts.values()) < 2:
                notes.append(f"'{lname}' left out (a categorical label needs two values with two members each)")
                continue
            kind = "categorical"
        labels.append(LabelSpec(lname, kind))
    primary = next((lab.name for k in KINDS for lab in labels if lab.kind == k), None)
    described = ", ".join(f"{lab.name} ({lab.kind})" for lab in labels) or "none"
    inferred = (f"domain '{name}' is not declared: labels inferred from their values: {described}; primary "
                f"{primary or 'none'}" + ("; " + "; ".join(notes) if notes else "")
                + ". Declare it with a {\"domain_spec\": ...} line or a .domains.yaml file to change this",)
    return DomainSpec(name, tuple(labels), primary, inferred=inferred, default=True)
