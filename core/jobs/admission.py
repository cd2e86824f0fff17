"""Admission control for background training in a dashboard shared by many users in one process.

    from core.jobs import Busy, manager

    job = manager().submit(owner, config)      # starts a daemon thread running core.training.engine.train
    manager().touch(owner)                     # the owner is still there (call on every page run)
    snap = manager().job_for(owner).snapshot() # cheap, thread-safe copy; poll it on every rerun
    job.cancel()                               # the run stops within about a second

Rules the :class:`JobManager` enforces:

* one running job per owner, and at most ``max_concurrent`` running jobs in the process;
  otherwise :meth:`JobManager.submit` raises :class:`Busy` (``reason`` "session" or "server");
* a run that fails for any reason ends with status ``"failed"``, a one-line ``error`` and an
  ``error_kind``; the training thread never raises, and its slot is always freed;
* **no slot without an owner**: an owner is whoever submitted (the app uses a token kept in the
  page's URL, so a reloaded tab finds its run again). Owners send heartbeats with :meth:`touch`;
  a running job whose owner has been silent for ``orphan_after_s`` seconds is cancelled by a
  watchdog thread and its slot freed about a second later, so a closed tab never locks other
  users out for long;
* each job trains with ``threads_per_job`` torch CPU threads (default 1): ``torch.set_num_threads``
  is process-global, so one user may not pick 16 threads for the whole server;
* jobs set up one at a time (see ``core.jobs.job._setup_lock``), so a seed gives the same run
  whatever else is training in the process.

Memory stays bounded: each job keeps at most ``HISTORY_CAP`` history records, only an owner's
latest job is kept, and finished jobs are dropped after ``keep_finished_s`` seconds or when more
than ``max_finished`` are held (oldest first). This package must not import streamlit.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable

from ..training.config import TrainConfig
from ..util.device import available_cpus
from .job import Job, classify_error, one_line

log = logging.getLogger(__name__)


class Busy(RuntimeError):
    """A job could not start: this owner already has one running (``reason == "session"``), or the
    server runs its limit of jobs (``reason == "server"``; ``running`` and ``limit`` say how many)."""

    def __init__(self, reason: str, running: int = 0, limit: int = 0):
        what = ("this session already has a training run in progress" if reason == "session"
                else f"the server runs {running} training run(s), its limit is {limit}")
        super().__init__(what)
        self.reason, self.running, self.limit = reason, running, limit


class JobManager:
    """Runs training jobs in daemon threads with a per-session and a process-wide limit.

    ``max_concurrent``: running jobs allowed in the process; ``threads_per_job``: torch CPU
    threads each job trains with (its ``config.threads`` is capped at this; None leaves configs
    as they are); finished jobs are kept for ``keep_finished_s`` seconds, at most
    ``max_finished`` of them (a session's job is dropped when it submits a new one anyway).

    ``on_busy_change``: called with True when the first job starts (before its thread does) and
    with False when the last running one ends, so the host can tune the process for training
    (the dashboard's allocator: ``ui.shell.training_allocator``); an error in it is logged, never
    raised into a job.
    """

    def __init__(self, max_concurrent: int = 1, threads_per_job: int | None = 1,
                 keep_finished_s: float = 6 * 3600, max_finished: int = 200,
                 orphan_after_s: float | None = 20.0):
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent must be at least 1, got {max_concurrent}")
        self.max_concurrent = int(max_concurrent)
        self.threads_per_job = threads_per_job
        self.keep_finished_s = keep_finished_s
        self.max_finished = max_finished
        self.orphan_after_s = orphan_after_s
        self._watchdog: threading.Thread | None = None
        self._lock = threading.Lock()
        self._latest: dict[str, Job] = {}    # session → its latest job (running or finished)
        self._active: dict[str, Job] = {}    # session → its running job
        self.on_busy_change: Callable[[bool], None] | None = None

    # ---- public API ------------------------------------------------------------------------
    def submit(self, session_id: str, config: TrainConfig, out_dir: str | Path | None = None,
               cleanup: bool = True) -> Job:
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
                raise Busy("session")
            if len(self._active) >= self.max_concurrent:
                raise Busy("server", len(self._active), self.max_concurrent)
            self._evict_locked()
            job = Job(session_id, config, out_dir)
            job.cleanup = cleanup and out_dir is not None
            self._active[session_id] = job
            replaced = self._latest.get(session_id)
            self._latest[session_id] = job
            thread = threading.Thread(target=self._run, args=(job,), name=f"shiftlab-train-{job.id}",
                                      daemon=True)
            job._thread = thread
            if len(self._active) == 1:
                self._busy_changed(True)
            try:
                thread.start()
                self._ensure_watchdog()
            except BaseException:  # e.g. "can't start new thread": give the slot back
                del self._active[session_id]
                self._latest.pop(session_id, None)
                if not self._active:
                    self._busy_changed(False)
                raise
        if replaced is not None:
            _remove_out_dir(replaced)
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
            if j.done:
                _remove_out_dir(j)

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
        from ..training.engine import train

        status, result, error, kind = "failed", None, None, None
        try:
            job._acquire_setup_lock()
            result = train(job.config, progress=job._on_progress, cancel=job._cancel, out_dir=job.out_dir)
            status = "cancelled" if result.cancelled else "done"
        except BaseException as err:  # noqa: BLE001 — the thread must never crash the process
            error, kind = one_line(err), classify_error(err)
            if kind == "unexpected":
                log.exception("job %s (owner %s) failed unexpectedly", job.id, job.session_id)
            else:
                log.info("job %s (owner %s) failed: %s", job.id, job.session_id, error)
            result = None
        finally:
            job._release_setup_lock()
            # Free the slot before publishing the status, so that anyone who sees the job
            # finished (snapshot or wait) may submit again at once.
            with self._lock:
                if self._active.get(job.session_id) is job:
                    del self._active[job.session_id]
                    if not self._active:
                        self._busy_changed(False)
            try:
                job._finish(status, result, error, kind)
            finally:
                job._finished_event.set()
            with self._lock:
                forgotten = self._latest.get(job.session_id) is not job
            if forgotten:  # nobody will look at it again
                _remove_out_dir(job)

    def _busy_changed(self, busy: bool) -> None:
        """Tell ``on_busy_change`` (called with the lock held, so starts and ends stay in order)."""
        if self.on_busy_change is None:
            return
        try:
            self.on_busy_change(busy)
        except Exception:  # noqa: BLE001 - a host's hook must not fail a job
            log.exception("on_busy_change(%s) failed", busy)

    # ---- owners --------------------------------------------------------------------------
    def touch(self, session_id: str) -> None:
        """A heartbeat: ``session_id`` (the owner) is still there. Cheap; call on every page run."""
        with self._lock:
            job = self._active.get(session_id)
        if job is not None:
            job.last_seen = time.monotonic()

    def reap_orphans(self) -> list[Job]:
        """Cancel running jobs whose owner sent no heartbeat for ``orphan_after_s`` seconds; returns
        them. The watchdog thread calls this every second while jobs run."""
        if self.orphan_after_s is None:
            return []
        now = time.monotonic()
        with self._lock:
            orphans = [j for j in self._active.values()
                       if not j.cancel_requested and now - j.last_seen > self.orphan_after_s]
        for job in orphans:
            log.info("job %s: its owner has been gone for over %.0f s; cancelling it", job.id, self.orphan_after_s)
            job.cancel()
        return orphans

    def _ensure_watchdog(self) -> None:
        if self.orphan_after_s is None or (self._watchdog is not None and self._watchdog.is_alive()):
            return
        self._watchdog = threading.Thread(target=self._watch, name="shiftlab-job-watchdog", daemon=True)
        self._watchdog.start()

    def _watch(self) -> None:
        while True:
            time.sleep(min(1.0, self.orphan_after_s or 1.0))
            self.reap_orphans()
            with self._lock:
                if not self._active:
                    self._watchdog = None
                    return

    def _evict_locked(self) -> None:
        now = time.time()
        finished = [(j.finished, s) for s, j in self._latest.items()
                    if s not in self._active and j.finished is not None]
        stale = {s for t, s in finished if now - t > self.keep_finished_s}
        if len(finished) - len(stale) > self.max_finished:
            rest = sorted((t, s) for t, s in finished if s not in stale)
            stale.update(s for _, s in rest[:len(rest) - self.max_finished])
        for s in stale:
            _remove_out_dir(self._latest.pop(s))



def _remove_out_dir(job: Job) -> None:
    """Delete the run folder of a job the manager no longer holds (folders it was told to own)."""
    if getattr(job, "cleanup", False) and job.out_dir is not None and job.done:
        import shutil

        shutil.rmtree(job.out_dir, ignore_errors=True)


# ---- the process-wide manager --------------------------------------------------------------

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


#: Seconds without a heartbeat after which a run is an orphan, unless $SHIFTLAB_ORPHAN_S says otherwise.
ORPHAN_AFTER_S = 20.0
#: The smallest orphan window accepted from the environment (owners beat every third of it).
MIN_ORPHAN_S = 2.0


def default_orphan_after_s() -> float | None:
    """``$SHIFTLAB_ORPHAN_S`` (seconds an owner may stay silent before its run is cancelled; at
    least :data:`MIN_ORPHAN_S`; ``off`` or ``0`` disables the watchdog) if set, else
    :data:`ORPHAN_AFTER_S`. Tests set it small to see a closed tab's slot freed within seconds."""
    env = os.environ.get("SHIFTLAB_ORPHAN_S", "").strip().lower()
    if not env:
        return ORPHAN_AFTER_S
    if env in ("off", "none", "0"):
        return None
    try:
        value = float(env)
        if value > 0 and value == value and value != float("inf"):
            return max(MIN_ORPHAN_S, value)
    except ValueError:
        pass
    log.warning("ignoring SHIFTLAB_ORPHAN_S=%r (not a positive number of seconds, or 'off')", env)
    return ORPHAN_AFTER_S


def heartbeat_interval(orphan_after_s: float | None) -> float:
    """How often an owner should beat: every 5 s, or a third of a shorter orphan window."""
    return 5.0 if orphan_after_s is None else min(5.0, orphan_after_s / 3)


_manager: JobManager | None = None
_manager_lock = threading.Lock()


def manager() -> JobManager:
    """The process-wide :class:`JobManager` (created on first use; see :func:`default_max_jobs` and
    :func:`default_orphan_after_s`)."""
    global _manager
    if _manager is None:
        with _manager_lock:
            if _manager is None:
                _manager = JobManager(max_concurrent=default_max_jobs(), orphan_after_s=default_orphan_after_s())
    return _manager


