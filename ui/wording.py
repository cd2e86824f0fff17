"""What people read when a run cannot start or stops: one place for the app's wording, so core
stays free of it (core says *what* happened: :class:`core.jobs.Busy`, a job's ``error_kind``)."""

from __future__ import annotations

MAX_CHARS = 400


def busy_message(err) -> str:
    """The message for a :class:`core.jobs.Busy` refusal."""
    if getattr(err, "reason", "server") == "session":
        return "You already have a training run in progress — cancel it or wait for it to finish."
    running, limit = getattr(err, "running", 0), getattr(err, "limit", 0)
    runs = "1 training run is" if running == 1 else f"{running} training runs are"
    return f"The server is busy: {runs} in progress (limit {limit}). Please try again in a minute."


def failure_message(kind: str | None, error: str | None) -> str:
    """One line saying why a run stopped, from the job's ``error_kind`` and ``error``."""
    text = " ".join(str(error or "").split())
    if kind == "diverged":
        msg = f"Training stopped: {text}" if text else "Training stopped: the loss diverged."
        if "learning rate" not in text:
            msg += "; lower the learning rate or the adaptation weight."
    elif kind == "data":
        msg = f"Could not load the data: {text}"
    elif kind == "memory":
        msg = "Training stopped: the server ran out of memory; try a smaller batch size or model."
    elif kind == "settings":
        msg = f"Invalid settings: {text}" if text else "Invalid settings."
    else:
        msg = f"Training failed unexpectedly ({text})." if text else "Training failed unexpectedly."
    return msg if len(msg) <= MAX_CHARS else msg[:MAX_CHARS - 1] + "…"
