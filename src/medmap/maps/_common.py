"""Small helpers shared by the map modules: canonical ordering. Atomic writes come from medmap.store."""

from __future__ import annotations

DOMAIN_ORDER = ("age", "symptoms", "diseases", "progression", "drugs", "dosage")
TECHNIQUE_ORDER = ("geometry", "saliency", "lesion", "patching")


def order_key(value: str, order: tuple[str, ...]) -> tuple[int, str]:
    """Sort key: names in ``order`` first, in that order, then any others alphabetically."""
    value = str(value)
    return (order.index(value), "") if value in order else (len(order), value)


def domain_key(domain: str) -> tuple[int, str]:
    """Canonical position of a domain (age, symptoms, diseases, progression, drugs, dosage, others)."""
    return order_key(domain, DOMAIN_ORDER)


def technique_key(technique: str) -> tuple[int, str]:
    """Canonical position of a technique (geometry, saliency, lesion, patching, others)."""
    return order_key(technique, TECHNIQUE_ORDER)
