"""The method registry: names → :class:`~core.methods.base.Method` classes, families, display order.

A method file registers its class with :func:`register`; everything else (the CLI, recipes, the
zoo, the leaderboard, selection, the pages) asks this module what exists.
"""

from __future__ import annotations

from ..util.registry import Registry

#: Method families in display order: what a method is for, which decides where the zoo, the
#: leaderboard and the pages put it. ``adapted`` families learn from unlabelled target pictures.
FAMILIES: dict[str, str] = {
    "baseline": "Baseline (source only)",
    "upper_bound": "Upper bound (target labels)",
    "few_label": "Few target labels",
    "unsupervised": "Unsupervised adaptation",
    "source_free": "Source-free adaptation",
    "generalization": "Domain generalisation",
    "student": "Distilled student",
}
ADAPTED_FAMILIES = ("unsupervised", "source_free")


def _check_method(cls: type) -> None:
    """A method's own declaration rules (family, target labels); fills ``short_label``."""
    if cls.family not in FAMILIES:
        raise ValueError(f"method {cls.name!r}: family {cls.family!r} is not one of {', '.join(FAMILIES)}")
    if cls.target_labels not in ("none", "few", "all"):
        raise ValueError(f"method {cls.name!r}: target_labels must be 'none', 'few' or 'all'")
    if not cls.short_label:
        cls.short_label = cls.label or cls.name.replace("_", " ").capitalize()


#: Every registered method, name → class (a :class:`core.util.registry.Registry`).
METHODS = Registry("method", check=_check_method)
#: Class decorator adding a method to :data:`METHODS` under ``cls.name`` (checked at import).
register = METHODS.register
#: Remove a method from the registry (for tests that register one at run time).
unregister = METHODS.unregister


def get_method(name: str) -> type:
    """The method class called ``name``; unknown names raise listing the valid ones."""
    return METHODS.lookup(name)


def ordered(names=None) -> list[str]:
    """Method names in display order: by family (:data:`FAMILIES`), then ``order``, then name."""
    families = list(FAMILIES)
    names = list(METHODS) if names is None else [n for n in names if n in METHODS]
    return sorted(names, key=lambda n: (families.index(METHODS[n].family), METHODS[n].order, n))


def by_family(*families: str) -> list[str]:
    """Registered method names of the given families, in display order."""
    return [n for n in ordered() if METHODS[n].family in families]


def runs_on_points(names=None) -> list[str]:
    """Method names (display order) that train on point domains (the 2-D toy data sets): every
    method that does not declare ``needs_pictures``."""
    return [n for n in ordered(names) if not METHODS[n].needs_pictures]


def needs_pictures(names=None) -> list[str]:
    """Method names (display order) that need pictures and are refused on point domains."""
    return [n for n in ordered(names) if METHODS[n].needs_pictures]


def baseline() -> str:
    """The method every other is compared with (the first of family "baseline": source only)."""
    names = by_family("baseline")
    if not names:
        raise ValueError("no method of family 'baseline' is registered")
    return names[0]


def default_method() -> str:
    """What ``train`` runs when no method is named: the first unsupervised adaptation method."""
    names = by_family("unsupervised") or ordered()
    return names[0]


def is_candidate(method: str) -> bool:
    """Whether ``method`` competes when a model is chosen without target labels: source-only (the
    fallback) and every registered method whose family adapts with unlabelled target pictures
    (:data:`core.methods.ADAPTED_FAMILIES`), that needs no target labels and no *required* model
    reference (a teacher), and that does not opt out with ``recommendable = False``."""
    cls = METHODS.get(method)
    if cls is None:
        return False
    if method == baseline():
        return True
    needs_model = any(cls.hyperparameters[k].required for k in cls.model_hyperparameters())
    return (cls.is_adapted() and cls.target_labels == "none" and not needs_model
            and getattr(cls, "recommendable", True))
