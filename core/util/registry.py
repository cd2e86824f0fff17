"""One registry type for every plug-in kind: methods, validators, test-time adapters, estimators.

A plug-in is one file holding a class decorated with its kind's ``register``; the registry maps the
class's ``name`` to the class, in registration order, and is an ordinary ``dict`` for reading::

    ESTIMATORS = Registry("estimator", check=_check_estimator)
    register = ESTIMATORS.register

    @register
    class ATC(Estimator):
        name = "atc"

    ESTIMATORS.lookup("atc")     # the class
    ESTIMATORS.lookup("nope")     # ValueError: unknown estimator 'nope'; valid estimators: atc

Every kind gets the same rules: a name of lower-case letters, digits and ``_``; no name twice; an
unknown name raises listing the valid ones (never a silent fallback); ``label`` defaults to the
name made readable. ``check(cls)`` adds a kind's own checks, run at import so a mistake fails there.
"""

from __future__ import annotations

from typing import Callable


class Registry(dict):
    """``name → class`` for one kind of plug-in (``kind``: the word used in messages)."""

    def __init__(self, kind: str, plural: str | None = None, check: Callable[[type], None] | None = None):
        super().__init__()
        self.kind, self.plural, self._check = kind, plural or f"{kind}s", check

    def register(self, cls: type) -> type:
        """Class decorator: add ``cls`` under ``cls.name`` after checking its declaration."""
        name = getattr(cls, "name", "")
        if not name or not name.replace("_", "").isalnum() or name != name.lower():
            raise ValueError(f"{self.kind} name {name!r} must be lower-case letters, digits and '_'")
        if name in self:
            raise ValueError(f"{self.kind} {name!r} registered twice")
        if self._check is not None:
            self._check(cls)
        if not getattr(cls, "label", ""):
            cls.label = name.replace("_", " ").capitalize()
        self[name] = cls
        return cls

    def unregister(self, name: str) -> None:
        """Remove ``name`` (for tests that register a plug-in at run time)."""
        self.pop(name, None)

    def lookup(self, name: str) -> type:
        """The class called ``name``; an unknown name raises ValueError listing the valid ones."""
        if name in self:
            return self[name]
        raise ValueError(f"unknown {self.kind} {name!r}; valid {self.plural}: {', '.join(self) or 'none'}")
