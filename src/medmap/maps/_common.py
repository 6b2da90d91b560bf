"""Small helpers shared by the map modules: canonical ordering (from the domain and technique
tables). Atomic writes come from medmap.store."""

from __future__ import annotations

from medmap.techniques import TECHNIQUES
from medmap.concepts.domains import domain_order


def order_key(value: str, order: tuple[str, ...]) -> tuple[int, str]:
    """Sort key: names in ``order`` first, in that order, then any others alphabetically."""
    value = str(value)
    return (order.index(value), "") if value in order else (len(order), value)


def domain_key(domain: str) -> tuple[int, str]:
    """Canonical position of a domain (the built-in table's order, then others alphabetically)."""
    return order_key(domain, domain_order())


def technique_key(technique: str) -> tuple[int, str]:
    """Canonical position of a technique (the technique table's order, then others alphabetically)."""
    return order_key(technique, TECHNIQUES)
