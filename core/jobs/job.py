"""One background training run: :class:`Job` (the thread's state, cancel, progress) and the
:class:`JobSnapshot` the pages poll. Admission and threads are :mod:`core.jobs.admission`'s."""

from __future__ import annotations

import copy
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..training.config import Progress, TrainConfig, TrainResult
from ..util.history import thin_history

log = logging.getLogger(__name__)

STATUSES = ("running", "done", "cancelled", "failed")
HISTORY_CAP = 5000          # history records kept in memory per job
MAX_ERROR_CHARS = 400       # error messages are one line, at most this long
SETUP_WAIT_S = 10.0         # longest a job waits for another job's setup (see _setup_lock)

# The engine seeds torch's *global* RNG and then initialises the model and the method's extra
# modules from it; two jobs setting up at once would draw from each other's stream, so the same
# seed would give different models depending on what else runs. A job therefore holds this lock
# from just before ``train`` until its first progress report (setup done; the training steps use
# per-run generators). A job waits at most SETUP_WAIT_S for it (a slow download must not block
# everyone), then goes on without it — reproducible in all but that rare case.
_setup_lock = threading.Lock()


def classify_error(err: BaseException) -> str:
    """What kind of failure ended a run, for the wording people see: "diverged" (the loss stopped
    being finite or exploded), "data" (a domain could not be loaded), "memory", "settings" (a bad
    value) or "unexpected" (a bug)."""
    from ..data import DomainError
    from ..training.engine import TrainingError

    if isinstance(err, TrainingError):
        return "diverged"
    if isinstance(err, DomainError):
        return "data"
    if isinstance(err, MemoryError):
        return "memory"
    if isinstance(err, (ValueError, KeyError, TypeError)):
        return "settings"
    return "unexpected"


def one_line(err: BaseException) -> str:
    """The error's message on one line, at most MAX_ERROR_CHARS long."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS - 1] + "…"


@dataclass
class JobSnapshot:
    """A consistent copy of a job's state at one moment; safe to keep and to mutate — except
    ``result``, which is the job's own :class:`TrainResult` (its model is shared, not copied)."""

    status: str                      # "running" | "done" | "cancelled" | "failed"
    step: int                        # steps done so far
    total: int                       # config.steps
    losses: dict[str, float]         # latest step's losses
    metrics: dict[str, float]        # latest evaluation; at the end target_acc/source_acc of the result
    elapsed: float                   # wall-clock seconds since the job started (until it finished)
    images_per_s: float
    history: list[dict]              # per-step records {"step", losses..., ["target_acc"]}, ≤ HISTORY_CAP
    preview: object | None           # the method's latest picture preview (uint8 (n,3,H,W)), or None
    error: str | None                # one line saying why, when status == "failed" (ui/wording.py words it for people)
    error_kind: str | None           # "diverged", "data", "memory", "settings" or "unexpected" (see classify_error)
    result: TrainResult | None       # set when done, and for cancelled runs (the partial model)
    config: TrainConfig              # a copy of the configuration the job runs (threads applied)
    job_id: str
    session_id: str
    started: float                   # epoch seconds
    finished: float | None = None    # epoch seconds, None while running

    @property
    def done(self) -> bool:
        return self.status != "running"

    @property
    def fraction(self) -> float:
        """Share of the steps done, in [0, 1] (for a progress bar)."""
        return min(1.0, self.step / self.total) if self.total else 0.0


class Job:
    """One training run in a background thread. Create them with :meth:`JobManager.submit`."""

    def __init__(self, session_id: str, config: TrainConfig, out_dir: str | Path | None = None):
        self.id: str = uuid.uuid4().hex[:12]
        self.session_id: str = session_id
        self.config: TrainConfig = config   # what the thread runs: treat as read-only
        self.out_dir = out_dir
        self.cleanup = False  # whether the manager deletes out_dir when it lets go of the job
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._finished_event = threading.Event()
        self._status = "running"
        self._step = 0
        self._losses: dict[str, float] = {}
        self._metrics: dict[str, float] = {}
        self._images_per_s = 0.0
        self._history: list[dict] = []
        self._stride = 1             # keep every ``stride``-th record once the history was thinned
        self._error: str | None = None
        self._error_kind: str | None = None
        self._preview = None
        self.last_seen: float = time.monotonic()  # the owner's latest heartbeat (JobManager.touch)
        self._result: TrainResult | None = None
        self.started: float = time.time()
        self._t0 = time.perf_counter()
        self.finished: float | None = None
        self._elapsed_final: float | None = None
        self._thread: threading.Thread | None = None
        self._holds_setup_lock = False

    # ---- public API ------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        """Whether the run has ended (done, cancelled or failed)."""
        return self._finished_event.is_set()

    @property
    def status(self) -> str:
        with self._lock:
            return self._status

    def cancel(self) -> None:
        """Ask the run to stop; the engine notices before its next step (well under a second).

        The run then ends with status ``"cancelled"`` and the partly trained model as result.
        Cancelling a finished job does nothing.
        """
        self._cancel.set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def wait(self, timeout: float | None = None) -> JobSnapshot:
        """Block until the run ends or ``timeout`` seconds pass; the snapshot either way."""
        self._finished_event.wait(timeout)
        return self.snapshot()

    def snapshot(self) -> JobSnapshot:
        """A thread-safe copy of the current state (cheap: a few dicts and the history list)."""
        with self._lock:
            if self._elapsed_final is not None:
                elapsed = self._elapsed_final
            else:
                elapsed = time.perf_counter() - self._t0
            return JobSnapshot(
                status=self._status, step=self._step, total=self.config.steps,
                losses=dict(self._losses), metrics=dict(self._metrics), elapsed=elapsed,
                images_per_s=self._images_per_s, history=[dict(r) for r in self._history],
                error=self._error, error_kind=self._error_kind, result=self._result, preview=self._preview,
                config=copy.deepcopy(self.config), job_id=self.id,
                session_id=self.session_id, started=self.started, finished=self.finished)

    def __repr__(self) -> str:
        return (f"Job(id={self.id!r}, session_id={self.session_id!r}, method={self.config.method!r}, "
                f"status={self.status!r})")

    # ---- called from the training thread ---------------------------------------------------
    def _on_progress(self, p: Progress) -> None:
        if self._holds_setup_lock:
            self._release_setup_lock()
        eval_every = self.config.eval_every
        fresh_eval = bool(p.metrics) and bool(eval_every) and p.step % eval_every == 0
        record = {"step": p.step, **p.losses}
        if fresh_eval:
            record.update(p.metrics)
        with self._lock:
            self._step, self._losses, self._metrics = p.step, dict(p.losses), dict(p.metrics)
            if p.preview is not None:
                self._preview = p.preview
            self._images_per_s = p.images_per_s
            if fresh_eval or p.step % self._stride == 0:
                self._history.append(record)
                if len(self._history) > HISTORY_CAP:
                    self._history = thin_history(self._history, HISTORY_CAP // 2)
                    self._stride *= 2

    def _acquire_setup_lock(self) -> None:
        deadline = time.monotonic() + SETUP_WAIT_S
        while not self._cancel.is_set():
            if _setup_lock.acquire(timeout=min(0.05, max(0.0, deadline - time.monotonic()))):
                self._holds_setup_lock = True
                return
            if time.monotonic() >= deadline:
                log.warning("job %s starts without the setup lock (another job's setup is slow)", self.id)
                return

    def _release_setup_lock(self) -> None:
        if self._holds_setup_lock:
            self._holds_setup_lock = False
            _setup_lock.release()

    def _finish(self, status: str, result: TrainResult | None = None, error: str | None = None,
                error_kind: str | None = None) -> None:
        with self._lock:
            self._status = status
            self._error = error
            self._error_kind = error_kind
            self.finished = time.time()
            self._elapsed_final = time.perf_counter() - self._t0
            if result is not None:
                if len(result.history) > HISTORY_CAP:  # the engine keeps every step; bound what we hold
                    result.history = thin_history(result.history, HISTORY_CAP)
                self._result = result
                self._step = result.steps_done
                self._images_per_s = result.images_per_s
                self._metrics = {**self._metrics, "target_acc": result.target_acc,
                                 "source_acc": result.source_acc}
                if self._history and self._history[-1]["step"] == result.steps_done:
                    self._history[-1] = {**self._history[-1], "target_acc": result.target_acc}
                elif result.history:
                    last = result.history[-1]
                    self._history.append({**last, "target_acc": result.target_acc})


