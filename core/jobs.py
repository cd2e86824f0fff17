"""Background training jobs for a dashboard shared by many users in one process.

    from core.jobs import Busy, manager

    try:
        job = manager().submit(session_id, config)        # starts a daemon thread running core.engine.train
    except Busy as err:
        show(str(err))                                    # a message meant for people
    snap = manager().job_for(session_id).snapshot()       # cheap, thread-safe copy; poll it on every rerun
    job.cancel()                                          # the run stops within about a second

Rules the :class:`JobManager` enforces:

* one running job per session, and at most ``max_concurrent`` running jobs in the process;
  otherwise :meth:`JobManager.submit` raises :class:`Busy` with a human message;
* a run that fails for any reason (diverging or non-finite loss, unknown domain, bad settings,
  out of memory, a bug) ends with status ``"failed"`` and a one-line ``error``; the training
  thread never raises, and its slot is always freed;
* besides the engine's own non-finite check, a loss whose magnitude exceeds
  :data:`LOSS_LIMIT` stops the run (raised from the progress callback, which propagates out of
  :func:`core.engine.train`);
* each job trains with ``threads_per_job`` torch CPU threads (default 1). Note that
  ``torch.set_num_threads`` (which the engine calls with ``config.threads``) is effectively
  **process-global**: it sets the calling thread and the default of every thread that uses
  torch afterwards (Streamlit's script threads, other jobs), so the manager caps each job's
  ``config.threads`` at ``threads_per_job`` rather than letting one user pick 16 threads for
  the whole server. (With OpenMP, a thread that already ran torch ops keeps its own count.)
* jobs set up one at a time (see ``_setup_lock``), so a seed gives the same run whatever else
  is training in the process.

Streamlit reloads edited modules in development; a reloaded ``core.jobs`` starts a fresh
manager (jobs of the old one run on, uncounted). Production processes import it once.

Memory stays bounded: each job keeps at most :data:`HISTORY_CAP` history records (thinned evenly
when a run is longer), only a session's latest job is kept, and finished jobs are dropped after
``keep_finished_s`` seconds or when more than ``max_finished`` are held (oldest first).

This module must not import streamlit; the pages own the UI.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from .engine import Progress, TrainConfig, TrainingError, TrainResult, train

log = logging.getLogger(__name__)

STATUSES = ("running", "done", "cancelled", "failed")
HISTORY_CAP = 5000          # history records kept in memory per job
LOSS_LIMIT = 1e4            # a loss above this (in magnitude) counts as diverged
MAX_ERROR_CHARS = 400       # error messages are one line, at most this long
SETUP_WAIT_S = 10.0         # longest a job waits for another job's setup (see _setup_lock)

# The engine seeds torch's *global* RNG and then initialises the model and the method's extra
# modules from it; two jobs setting up at once would draw from each other's stream, so the same
# seed would give different models depending on what else runs. A job therefore holds this lock
# from just before ``train`` until its first progress report (setup done; the training steps use
# per-run generators). A job waits at most SETUP_WAIT_S for it (a slow download must not block
# everyone), then goes on without it — reproducible in all but that rare case.
_setup_lock = threading.Lock()


class Busy(RuntimeError):
    """A job could not start: this session already has one running, or the server is full.

    ``reason`` is ``"session"`` or ``"server"``; ``str(err)`` is meant for people.
    """

    def __init__(self, message: str, reason: str = "server"):
        super().__init__(message)
        self.reason = reason


def session_busy_message() -> str:
    return "You already have a training run in progress — cancel it or wait for it to finish."


def server_busy_message(running: int, limit: int) -> str:
    runs = "1 training run is" if running == 1 else f"{running} training runs are"
    return f"The server is busy: {runs} in progress (limit {limit}). Please try again in a minute."


class LossDiverged(TrainingError):
    """Raised from the progress callback when a loss exceeds :data:`LOSS_LIMIT`."""


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
    error: str | None                # one-line human message when status == "failed"
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
                error=self._error, result=self._result, config=copy.deepcopy(self.config), job_id=self.id,
                session_id=self.session_id, started=self.started, finished=self.finished)

    def __repr__(self) -> str:
        return (f"Job(id={self.id!r}, session_id={self.session_id!r}, method={self.config.method!r}, "
                f"status={self.status!r})")

    # ---- called from the training thread ---------------------------------------------------
    def _on_progress(self, p: Progress) -> None:
        if self._holds_setup_lock:
            self._release_setup_lock()
        bad = {k: v for k, v in p.losses.items() if abs(v) > LOSS_LIMIT}
        if bad:
            name, value = next(iter(bad.items()))
            what = "the loss" if name == "loss" else f"the {name} loss"
            raise LossDiverged(f"{what} diverged to {value:.3g} at step {p.step} (limit {LOSS_LIMIT:.0e})")
        eval_every = self.config.eval_every
        fresh_eval = bool(p.metrics) and bool(eval_every) and p.step % eval_every == 0
        record = {"step": p.step, **p.losses}
        if fresh_eval:
            record.update(p.metrics)
        with self._lock:
            self._step, self._losses, self._metrics = p.step, dict(p.losses), dict(p.metrics)
            self._images_per_s = p.images_per_s
            if fresh_eval or p.step % self._stride == 0:
                self._history.append(record)
                if len(self._history) > HISTORY_CAP:
                    self._history = _thin(self._history)
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

    def _finish(self, status: str, result: TrainResult | None = None, error: str | None = None) -> None:
        with self._lock:
            self._status = status
            self._error = error
            self.finished = time.time()
            self._elapsed_final = time.perf_counter() - self._t0
            if result is not None:
                if len(result.history) > HISTORY_CAP:  # the engine keeps every step; bound what we hold
                    result.history = _thin(result.history, HISTORY_CAP)
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


def _thin(history: list[dict], cap: int = HISTORY_CAP) -> list[dict]:
    """Every other record (always the last, and those carrying an evaluation) until ≤ ``cap``."""
    while len(history) > cap:
        n = len(history)
        kept = [r for i, r in enumerate(history) if i % 2 == 0 or i == n - 1 or "target_acc" in r]
        if len(kept) > cap:  # evaluations on (nearly) every step: thin those too
            kept = history[::2] + ([history[-1]] if (n - 1) % 2 else [])
        history = kept
    return history


_NAN_RE = re.compile(r"the loss became (\{.*\}) at step (\d+)")


def human_error(err: BaseException) -> str:
    """One line, meant for people, saying why a run failed (without a traceback)."""
    from .data import DomainError

    text = " ".join(str(err).split())
    if isinstance(err, LossDiverged):
        msg = (f"Training stopped: {text}; lower the learning rate or the adaptation weight, "
               "or use fewer steps.")
    elif isinstance(err, TrainingError):
        m = _NAN_RE.search(text)
        if m:
            pairs = re.findall(r"'([^']+)':\s*([^,}]+)", m.group(1))
            bad = [(k, v.strip()) for k, v in pairs if v.strip() in ("nan", "inf", "-inf")]
            key, value = bad[0] if bad else (pairs[0] if pairs else ("loss", "not finite"))
            what = "the loss" if key == "loss" else f"the {key} loss"
            msg = (f"Training stopped: {what} became {value} at step {m.group(2)}; "
                   "lower the learning rate or the adaptation weight.")
        else:
            msg = f"Training stopped: {re.sub(r'^[A-Za-z_]+: ', '', text)}"
    elif isinstance(err, DomainError):
        msg = f"Could not load the data: {text}"
    elif isinstance(err, MemoryError):
        msg = "Training stopped: the server ran out of memory; try a smaller batch size or model."
    elif isinstance(err, (ValueError, KeyError, TypeError)):
        msg = f"Invalid settings: {text}" if text else f"Invalid settings ({type(err).__name__})."
    else:
        msg = f"Training failed unexpectedly ({type(err).__name__}: {text})" if text else \
            f"Training failed unexpectedly ({type(err).__name__})."
    if len(msg) > MAX_ERROR_CHARS:
        msg = msg[:MAX_ERROR_CHARS - 1] + "…"
    return msg


class JobManager:
    """Runs training jobs in daemon threads with a per-session and a process-wide limit.

    ``max_concurrent``: running jobs allowed in the process; ``threads_per_job``: torch CPU
    threads each job trains with (its ``config.threads`` is capped at this; None leaves configs
    as they are); finished jobs are kept for ``keep_finished_s`` seconds, at most
    ``max_finished`` of them (a session's job is dropped when it submits a new one anyway).
    """

    def __init__(self, max_concurrent: int = 1, threads_per_job: int | None = 1,
                 keep_finished_s: float = 6 * 3600, max_finished: int = 200):
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent must be at least 1, got {max_concurrent}")
        self.max_concurrent = int(max_concurrent)
        self.threads_per_job = threads_per_job
        self.keep_finished_s = keep_finished_s
        self.max_finished = max_finished
        self._lock = threading.Lock()
        self._latest: dict[str, Job] = {}    # session → its latest job (running or finished)
        self._active: dict[str, Job] = {}    # session → its running job

    # ---- public API ------------------------------------------------------------------------
    def submit(self, session_id: str, config: TrainConfig, out_dir: str | Path | None = None) -> Job:
        """Start ``config`` for ``session_id`` in a daemon thread; raises :class:`Busy`.

        The job runs a deep copy of ``config`` (later changes to the caller's object have no
        effect), with ``threads`` capped at ``threads_per_job``.
        """
        if not isinstance(session_id, str) or not session_id:
            raise ValueError("session_id must be a non-empty string")
        if not isinstance(config, TrainConfig):
            raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
        config = copy.deepcopy(config)
        if self.threads_per_job is not None:
            config = dataclasses.replace(
                config, threads=min(config.threads or self.threads_per_job, self.threads_per_job))
        with self._lock:
            if session_id in self._active:
                raise Busy(session_busy_message(), reason="session")
            if len(self._active) >= self.max_concurrent:
                raise Busy(server_busy_message(len(self._active), self.max_concurrent), reason="server")
            self._evict_locked()
            job = Job(session_id, config, out_dir)
            self._active[session_id] = job
            self._latest[session_id] = job
            thread = threading.Thread(target=self._run, args=(job,), name=f"shiftlab-train-{job.id}",
                                      daemon=True)
            job._thread = thread
            try:
                thread.start()
            except BaseException:  # e.g. "can't start new thread": give the slot back
                del self._active[session_id]
                self._latest.pop(session_id, None)
                raise
        return job

    def job_for(self, session_id: str) -> Job | None:
        """The latest job of ``session_id`` (running or finished), or None."""
        with self._lock:
            return self._latest.get(session_id)

    def running(self) -> int:
        """How many jobs are running in the process."""
        with self._lock:
            return len(self._active)

    def forget(self, session_id: str) -> None:
        """Drop the session's job (e.g. when the session ends); a running one is cancelled.

        A cancelled job keeps its slot until its thread has actually stopped (about a second).
        """
        with self._lock:
            job = self._latest.pop(session_id, None)
            active = self._active.get(session_id)
        for j in {job, active} - {None}:
            j.cancel()

    def sessions(self) -> list[str]:
        """Sessions that have a job held by the manager."""
        with self._lock:
            return list(self._latest)

    def cancel_all(self) -> None:
        """Cancel every running job (e.g. at shutdown)."""
        with self._lock:
            jobs = list(self._active.values())
        for job in jobs:
            job.cancel()

    # ---- internals -------------------------------------------------------------------------
    def _run(self, job: Job) -> None:
        status, result, error = "failed", None, None
        try:
            job._acquire_setup_lock()
            result = train(job.config, progress=job._on_progress, cancel=job._cancel, out_dir=job.out_dir)
            status = "cancelled" if result.cancelled else "done"
        except BaseException as err:  # noqa: BLE001 — the thread must never crash the process
            error = human_error(err)
            if isinstance(err, (TrainingError, ValueError, MemoryError)):
                log.info("job %s (session %s) failed: %s", job.id, job.session_id, error)
            else:
                log.exception("job %s (session %s) failed unexpectedly", job.id, job.session_id)
            result = None
        finally:
            job._release_setup_lock()
            # Free the slot before publishing the status, so that anyone who sees the job
            # finished (snapshot or wait) may submit again at once.
            with self._lock:
                if self._active.get(job.session_id) is job:
                    del self._active[job.session_id]
            try:
                job._finish(status, result, error)
            finally:
                job._finished_event.set()

    def _evict_locked(self) -> None:
        now = time.time()
        finished = [(j.finished, s) for s, j in self._latest.items()
                    if s not in self._active and j.finished is not None]
        stale = {s for t, s in finished if now - t > self.keep_finished_s}
        if len(finished) - len(stale) > self.max_finished:
            rest = sorted((t, s) for t, s in finished if s not in stale)
            stale.update(s for _, s in rest[:len(rest) - self.max_finished])
        for s in stale:
            del self._latest[s]


# ---- the process-wide manager --------------------------------------------------------------

def available_cpus() -> int:
    """CPUs this process may use: affinity, capped by a cgroup CPU quota when there is one."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    quota = None
    try:  # cgroup v2
        with open("/sys/fs/cgroup/cpu.max") as f:
            q, period = f.read().split()[:2]
            if q != "max":
                quota = int(q) / int(period)
    except (OSError, ValueError):
        try:  # cgroup v1
            with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as f:
                q = int(f.read())
            with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as f:
                period = int(f.read())
            if q > 0 and period > 0:
                quota = q / period
        except (OSError, ValueError):
            pass
    if quota is not None:
        n = min(n, max(1, math.ceil(quota)))
    return max(1, n)


def default_max_jobs() -> int:
    """``$SHIFTLAB_MAX_JOBS`` if set to a positive integer, else 1 with ≤ 2 CPUs, else 2."""
    env = os.environ.get("SHIFTLAB_MAX_JOBS", "").strip()
    if env:
        try:
            value = int(env)
            if value >= 1:
                return value
        except ValueError:
            pass
        log.warning("ignoring SHIFTLAB_MAX_JOBS=%r (not a positive integer)", env)
    return 1 if available_cpus() <= 2 else 2


_manager: JobManager | None = None
_manager_lock = threading.Lock()


def manager() -> JobManager:
    """The process-wide :class:`JobManager` (created on first use; see :func:`default_max_jobs`)."""
    global _manager
    if _manager is None:
        with _manager_lock:
            if _manager is None:
                _manager = JobManager(max_concurrent=default_max_jobs())
    return _manager


__all__ = ["Busy", "HISTORY_CAP", "Job", "JobManager", "JobSnapshot", "LOSS_LIMIT", "LossDiverged",
           "STATUSES", "available_cpus", "default_max_jobs", "human_error", "manager",
           "server_busy_message", "session_busy_message"]
