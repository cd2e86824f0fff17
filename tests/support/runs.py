"""Stand-ins for one training run: make a chosen (method, seed) fail, or record which runs started.

Both wrap the ``train_and_score`` a module imported (``core.selection.recommend``, ``core.studies.
zoo_build``) so the rest of the run — scoring, the choice, the cells — is the real code.
"""

from __future__ import annotations

from typing import Callable


def fail_run(monkeypatch, module, error: Exception, when: Callable) -> None:
    """Make ``module.train_and_score`` raise ``error`` for the configs where ``when(config)`` is true."""
    real = module.train_and_score

    def failing(config, *args, **kwargs):
        if when(config):
            raise error
        return real(config, *args, **kwargs)

    monkeypatch.setattr(module, "train_and_score", failing)


def record_runs(monkeypatch, module) -> list[tuple[str, int]]:
    """Record ``(method, seed)`` of every run ``module.train_and_score`` starts; the list fills as they run."""
    real, seen = module.train_and_score, []

    def recording(config, *args, **kwargs):
        seen.append((config.method, config.seed))
        return real(config, *args, **kwargs)

    monkeypatch.setattr(module, "train_and_score", recording)
    return seen
