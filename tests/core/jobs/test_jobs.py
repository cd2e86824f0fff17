"""Tests for core.jobs: background training jobs shared by many sessions in one process.

Real (tiny) training runs on the embedded domains, one torch thread; the manager logic that
needs no training (eviction, crashes, history thinning) runs against a fake ``train``.
"""

from __future__ import annotations

import math
import resource
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

import core.training.engine as engine
import core.jobs.admission as admission
import core.jobs.job as job_module
from tests.support.waiting import wait_until
from core.training.config import Progress, TrainConfig, TrainResult
from core.training.engine import train
from core.jobs import HISTORY_CAP, Busy, Job, JobManager, JobSnapshot, manager
from core.jobs.job import MAX_ERROR_CHARS
from ui.wording import busy_message, failure_message

SESSION_BUSY = "You already have a training run in progress — cancel it or wait for it to finish."
SERVER_BUSY_2 = "The server is busy: 2 training runs are in progress (limit 2). Please try again in a minute."


def said(snap: JobSnapshot) -> str:
    """What the app shows for a failed run."""
    return failure_message(snap.error_kind, snap.error)


def tiny(**kw) -> TrainConfig:
    spec = dict(method="dann", source="mnist", target="ucidigits", steps=20, batch_size=16, eval_every=0)
    spec.update(kw)
    return TrainConfig(**spec)


def long(**kw) -> TrainConfig:
    return tiny(steps=100_000, **kw)


@pytest.fixture
def mgr():
    """A manager for one test; whatever still runs at the end is cancelled and awaited."""
    made: list[JobManager] = []

    def make(max_concurrent: int = 1, **kw) -> JobManager:
        m = JobManager(max_concurrent, **kw)
        made.append(m)
        return m

    yield make
    for m in made:
        with m._lock:
            running = list(m._active.values())
        for job in running:
            job.cancel()
        for job in running:
            assert job.wait(30).done, "a job did not stop at teardown"


def wait_for_step(job: Job, step: int, timeout: float = 60) -> JobSnapshot:
    return wait_until(lambda: (lambda s: s if s.step >= step or s.done else None)(job.snapshot()), timeout,
                      f"the job reaching step {step}")


def time_to_stop(job: Job) -> tuple[float, JobSnapshot]:
    """Seconds from cancel() until the job's status changes from running."""
    t0 = time.perf_counter()
    job.cancel()
    wait_until(lambda: job.snapshot().status != "running", 30, "the job stopping after cancel()")
    return time.perf_counter() - t0, job.snapshot()


# --------------------------------------------------------------------------- real runs


def test_tiny_run_completes_with_result_and_history(mgr, tmp_path):
    m = mgr(1)
    job = m.submit("alice", tiny(), out_dir=tmp_path)
    assert m.job_for("alice") is job and m.running() == 1
    snap = job.wait(120)
    assert snap.status == "done" and job.done and snap.error is None
    assert snap.step == snap.total == 20 and snap.fraction == 1.0
    assert isinstance(snap.result, TrainResult) and snap.result.steps_done == 20 and not snap.result.cancelled
    assert snap.result.checkpoint and Path(snap.result.checkpoint).exists()
    assert [r["step"] for r in snap.history] == list(range(1, 21))
    assert all(math.isfinite(r["loss"]) for r in snap.history)
    assert snap.history[-1]["target_acc"] == snap.result.target_acc == snap.metrics["target_acc"]
    assert set(snap.losses) >= {"loss", "cls", "domain"}
    assert snap.images_per_s > 0 and snap.elapsed > 0
    assert snap.started <= snap.finished <= time.time()
    assert (snap.job_id, snap.session_id, snap.config.method) == (job.id, "alice", "dann")
    assert snap.config.threads == 1
    assert m.running() == 0
    # the snapshot is a copy: mutating it does not touch the job
    snap.history.clear(), snap.losses.clear(), snap.metrics.clear()
    again = job.snapshot()
    assert len(again.history) == 20 and again.losses and again.metrics
    # a finished job's elapsed time is frozen
    assert job.snapshot().elapsed == again.elapsed


def test_history_records_in_loop_evaluations(mgr):
    snap = mgr(1).submit("s", tiny(steps=12, eval_every=4)).wait(120)
    assert snap.status == "done"
    with_acc = [r["step"] for r in snap.history if "target_acc" in r]
    assert with_acc == [4, 8, 12]  # the engine evaluates at 4 and 8; 12 is the final evaluation


def test_cancel_stops_a_long_run_quickly(mgr):
    m = mgr(1)
    job = m.submit("bob", long(batch_size=64))
    wait_for_step(job, 3)
    seconds, snap = time_to_stop(job)
    assert seconds < 1.5, f"took {seconds:.2f} s to stop after cancel()"
    assert snap.status == "cancelled" and snap.error is None
    assert snap.result is not None and snap.result.cancelled  # the partial model is still there
    assert 3 <= snap.result.steps_done < 100_000 and snap.step == snap.result.steps_done
    assert m.running() == 0
    m.submit("bob", tiny(steps=2)).wait(120)  # the slot was freed


def test_cancel_is_quick_with_evaluation_every_step(mgr):
    job = mgr(1).submit("bob", long(eval_every=1))
    wait_for_step(job, 3)
    seconds, snap = time_to_stop(job)
    assert seconds < 1.5 and snap.status == "cancelled"


def test_cancel_before_the_loop_starts(mgr):
    job = mgr(1).submit("bob", long())
    job.cancel()
    snap = job.wait(60)
    assert snap.status == "cancelled" and snap.result.steps_done == 0


def test_huge_learning_rate_fails_with_a_loss_message_and_frees_the_slot(mgr):
    m = mgr(1)
    snap = m.submit("carol", tiny(steps=50, lr=10.0)).wait(120)
    assert snap.status == "failed" and snap.result is None and snap.error_kind == "diverged"
    assert said(snap).startswith("Training stopped: ") and "loss" in said(snap)
    assert "learning rate" in said(snap) and "\n" not in said(snap)
    assert m.running() == 0
    assert m.submit("carol", tiny(steps=2)).wait(120).status == "done"


def test_nan_loss_message(mgr, monkeypatch):
    from core.methods.base import Method

    real_step = Method.train_step
    calls = {"n": 0}

    def train_step(self, batch, progress):
        calls["n"] += 1
        losses = real_step(self, batch, progress)
        return {**losses, "loss": torch.tensor(float("nan"))} if calls["n"] >= 12 else losses

    monkeypatch.setattr(Method, "train_step", train_step)
    snap = mgr(1).submit("carol", tiny(method="source_only", steps=30)).wait(120)
    assert snap.status == "failed"
    assert said(snap).startswith("Training stopped: the loss diverged")
    assert "loss=nan" in snap.error and "at step 12" in snap.error
    assert "lower the learning rate or the adaptation weight" in said(snap)
    assert snap.step == 11


def test_diverging_loss_guard(mgr, monkeypatch):
    monkeypatch.setattr(engine, "LOSS_LIMIT", 1e-3)  # every real loss is above this
    m = mgr(1)
    snap = m.submit("dave", tiny()).wait(120)
    assert snap.status == "failed" and snap.error_kind == "diverged"
    assert said(snap).startswith("Training stopped: the loss diverged")
    assert "at step 1;" in snap.error and "learning rate" in said(snap)
    assert m.running() == 0


def test_exceptions_in_the_progress_callback_propagate_out_of_train():
    class Stop(Exception):
        pass

    seen = []

    def progress(p: Progress):
        seen.append(p.step)
        if p.step == 3:
            raise Stop("from the callback")

    with pytest.raises(Stop):
        train(tiny(steps=10, threads=1), progress=progress)
    assert seen == [1, 2, 3]


def test_bad_domain_fails_with_the_domain_message(mgr):
    m = mgr(1)
    snap = m.submit("erin", tiny(source="no_such_domain")).wait(60)
    assert snap.status == "failed" and snap.error_kind == "data"
    assert said(snap).startswith("Could not load the data: unknown domain 'no_such_domain'")
    assert "available domains: mnist" in snap.error
    assert m.running() == 0


@pytest.mark.parametrize("kw, needle", [
    ({"method": "nope"}, "unknown method 'nope'"),
    ({"hparams": {"bogus": 1}}, "unknown hyperparameter(s) ['bogus']"),
    ({"optimizer": "lbfgs"}, "unknown optimizer 'lbfgs'"),
])
def test_bad_settings_fail_with_a_message(mgr, kw, needle):
    snap = mgr(1).submit("erin", tiny(**kw)).wait(60)
    assert snap.status == "failed" and said(snap).startswith("Invalid settings: ") and needle in snap.error


def test_one_running_job_per_session(mgr):
    m = mgr(3)
    job = m.submit("frank", long())
    with pytest.raises(Busy) as err:
        m.submit("frank", tiny())
    assert busy_message(err.value) == SESSION_BUSY and err.value.reason == "session"
    assert isinstance(err.value, RuntimeError)
    assert m.job_for("frank") is job and m.running() == 1
    m.submit("grace", tiny(steps=2)).wait(120)  # other sessions are not affected
    job.cancel()
    job.wait(30)
    m.submit("frank", tiny(steps=2)).wait(120)


def test_process_wide_cap(mgr):
    m = mgr(2)
    a, b = m.submit("a", long()), m.submit("b", long(seed=1))
    assert m.running() == 2
    with pytest.raises(Busy) as err:
        m.submit("c", tiny())
    assert busy_message(err.value) == SERVER_BUSY_2 and err.value.reason == "server"
    assert (err.value.running, err.value.limit) == (2, 2)
    assert m.job_for("c") is None
    a.cancel()
    assert a.wait(30).status == "cancelled"
    assert m.running() == 1
    c = m.submit("c", tiny(steps=2))  # a slot opened
    b.cancel()
    assert c.wait(120).status == "done" and b.wait(30).status == "cancelled"


def test_server_busy_message_singular():
    assert busy_message(Busy("server", 1, 1)) == ("The server is busy: 1 training run is in progress (limit 1). "
                                                  "Please try again in a minute.")


def test_five_sessions_at_once_see_only_their_own_job(mgr):
    m = mgr(5)
    methods = ["source_only", "dann", "mmd", "oracle", "self_training"]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    barrier = threading.Barrier(5)
    errors: list[BaseException] = []
    finals: dict[str, JobSnapshot] = {}

    def session(i: int):
        sid, method, seed = f"user-{i}", methods[i], 100 + i
        try:
            barrier.wait(30)
            job = m.submit(sid, tiny(method=method, seed=seed, steps=15))

            def own_and_done():  # every look on the way sees this session's own job
                mine = m.job_for(sid)
                assert mine is job
                snap = mine.snapshot()
                assert (snap.session_id, snap.job_id) == (sid, job.id)
                assert (snap.config.method, snap.config.seed) == (method, seed)
                assert all(r["step"] <= snap.step for r in snap.history)
                return snap if snap.done else None

            finals[sid] = wait_until(own_and_done, 300, f"session {sid}'s job finishing", poll=0.02)
        except BaseException as e:  # noqa: BLE001 — reported in the main thread
            errors.append(e)

    threads = [threading.Thread(target=session, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    assert len(finals) == 5 and m.running() == 0
    for i in range(5):
        snap = finals[f"user-{i}"]
        assert snap.status == "done", snap.error
        card = snap.result.card
        assert (card["method"], card["seed"]) == (methods[i], 100 + i)
        assert len(snap.history) == 15
    # each job's result is its own
    assert len({id(s.result) for s in finals.values()}) == 5
    growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / (
        1024 * 1024 if sys.platform == "darwin" else 1024)
    assert growth_mb < 600, f"max RSS grew by {growth_mb:.0f} MB"


def test_same_seed_same_result_whatever_else_runs(mgr):
    """Jobs set up one at a time: the engine seeds torch's global RNG before building the model."""
    m = mgr(3)
    solo = m.submit("solo", tiny(steps=8, seed=0)).wait(120)
    together = [m.submit(f"t{i}", tiny(steps=8, seed=i)) for i in (0, 1, 2)]
    snaps = [j.wait(120) for j in together]
    assert all(s.status == "done" for s in snaps)
    assert snaps[0].result.target_acc == solo.result.target_acc
    assert [r["loss"] for r in snaps[0].history] == [r["loss"] for r in solo.history]
    assert [r["loss"] for r in snaps[1].history] != [r["loss"] for r in solo.history]


def test_a_slow_setup_does_not_block_other_jobs_for_long(mgr, monkeypatch):
    monkeypatch.setattr(job_module, "SETUP_WAIT_S", 0.3)
    release = threading.Event()

    def fake_train(config, progress=None, cancel=None, out_dir=None):
        if config.seed == 1:  # a "download" that takes long, before any progress
            release.wait(30)
        return fake_result(config, 1)

    monkeypatch.setattr(engine, "train", fake_train)
    m = mgr(2)
    slow = m.submit("slow", tiny(seed=1))
    wait_until(job_module._setup_lock.locked, 10, "the slow job holding the setup lock")
    t0 = time.perf_counter()
    assert m.submit("quick", tiny(seed=2)).wait(10).status == "done"
    assert time.perf_counter() - t0 < 3
    release.set()
    assert slow.wait(10).status == "done"
    assert job_module._setup_lock.acquire(timeout=1)  # released again
    job_module._setup_lock.release()


def test_config_is_copied_and_threads_capped(mgr):
    cfg = tiny(steps=2, threads=8, hparams={"domain_weight": 0.5})
    job = mgr(1).submit("h", cfg)
    cfg.seed, cfg.hparams["domain_weight"] = 99, 7.0
    snap = job.wait(120)
    assert snap.status == "done"
    assert snap.config.threads == 1 and cfg.threads == 8
    assert snap.config.seed == 0 and snap.config.hparams == {"domain_weight": 0.5}
    assert torch.get_num_threads() == 1


def test_threads_left_alone_without_a_per_job_setting(mgr):
    job = mgr(1, threads_per_job=None).submit("h", tiny(steps=1, threads=None))
    assert job.wait(120).config.threads is None


def test_forget_drops_and_cancels(mgr):
    m = mgr(1)
    job = m.submit("ivan", long())
    wait_for_step(job, 1)
    m.forget("ivan")
    assert m.job_for("ivan") is None and job.cancel_requested
    assert job.wait(30).status == "cancelled"
    assert m.running() == 0
    m.forget("ivan")  # twice is fine
    m.forget("never-seen")


def test_wait_with_timeout_returns_a_running_snapshot(mgr):
    job = mgr(1).submit("j", long())
    snap = job.wait(0.05)
    assert snap.status == "running" and not snap.done and snap.finished is None and snap.result is None
    job.cancel()


# --------------------------------------------------------------------------- manager logic (fake train)


def fake_result(config: TrainConfig, steps: int, cancelled: bool = False) -> TrainResult:
    history = [{"step": s, "loss": 1.0} for s in range(1, steps + 1)]
    return TrainResult(torch.nn.Linear(1, 1), {}, history, 50.0, 60.0, 0.1, 100.0, steps, cancelled)


def test_unexpected_exceptions_never_escape_the_thread(mgr, monkeypatch):
    hooked = []
    monkeypatch.setattr(threading, "excepthook", lambda args: hooked.append(args))
    m = mgr(1)

    def boom(config, progress=None, cancel=None, out_dir=None):
        raise RuntimeError("boom\nwith a second line")

    monkeypatch.setattr(engine, "train", boom)
    snap = m.submit("k", tiny()).wait(10)
    assert snap.status == "failed" and snap.error_kind == "unexpected"
    assert snap.error == "boom with a second line"
    assert said(snap) == "Training failed unexpectedly (boom with a second line)."

    def leave(config, progress=None, cancel=None, out_dir=None):
        raise SystemExit(3)

    monkeypatch.setattr(engine, "train", leave)
    snap = m.submit("k", tiny()).wait(10)
    assert snap.status == "failed" and snap.error_kind == "unexpected"

    def oom(config, progress=None, cancel=None, out_dir=None):
        raise MemoryError()

    monkeypatch.setattr(engine, "train", oom)
    snap = m.submit("k", tiny()).wait(10)
    assert snap.status == "failed" and "ran out of memory" in said(snap)
    assert not hooked and m.running() == 0


def test_failure_wording():
    assert failure_message("diverged", "the loss diverged (loss=nan) at step 12; lower the learning rate or "
                           "the adaptation weight") == ("Training stopped: the loss diverged (loss=nan) at step 12; "
                                                        "lower the learning rate or the adaptation weight")
    assert failure_message("settings", "unknown optimizer 'x'") == "Invalid settings: unknown optimizer 'x'"
    assert len(failure_message("settings", "x" * 5000)) <= 400
    assert len(job_module.one_line(ValueError("x" * 5000))) <= MAX_ERROR_CHARS


def test_a_run_whose_owner_is_gone_is_cancelled_and_frees_its_slot(mgr):
    """The reload lock-out: a tab that stops sending heartbeats loses its run within seconds."""
    m = mgr(1, orphan_after_s=0.5)
    job = m.submit("tab", long())
    wait_for_step(job, 1)
    assert job.wait(10).status == "cancelled"  # nobody touched it: the watchdog cancelled it
    assert m.running() == 0
    m.submit("another tab", tiny(steps=2)).wait(120)


def test_heartbeats_keep_a_run(mgr):
    m = mgr(1, orphan_after_s=0.6)
    job = m.submit("tab", long())
    deadline = time.monotonic() + 2.0  # over three times the orphan window
    while time.monotonic() < deadline:
        m.touch("tab")
        assert not job.wait(0.1).done  # a heartbeat every 0.1 s; a cancelled job ends this at once
    assert not job.done
    job.cancel()
    job.wait(30)


def test_run_folders_are_removed_when_the_manager_lets_go(mgr, tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "train", lambda config, progress=None, cancel=None, out_dir=None:
                        (Path(out_dir).mkdir(parents=True), fake_result(config, 1))[1])
    m = mgr(1)
    first = m.submit("s", tiny(), out_dir=tmp_path / "run1")
    first.wait(10)
    assert (tmp_path / "run1").is_dir()
    m.submit("s", tiny(), out_dir=tmp_path / "run2").wait(10)  # the session's new run replaces it
    assert not (tmp_path / "run1").exists() and (tmp_path / "run2").is_dir()
    m.forget("s")
    assert not (tmp_path / "run2").exists()


def test_history_is_capped_but_spans_the_run():
    job = Job("s", tiny(steps=50_000, eval_every=1000))
    for step in range(1, 50_001):
        metrics = {"target_acc": step / 1000} if step >= 1000 else {}
        job._on_progress(Progress(step, 50_000, {"loss": 1.0}, metrics, 1.0, 1.0))
    hist = job.snapshot().history
    assert len(hist) <= HISTORY_CAP
    steps = [r["step"] for r in hist]
    assert steps == sorted(steps) and steps[0] <= 8 and steps[-1] >= 50_000 - 16
    evals = [r["step"] for r in hist if "target_acc" in r]
    assert evals == list(range(1000, 50_001, 1000))  # every evaluation survives the thinning
    # the engine's own (full-length) history in the result is bounded too
    job._finish("done", fake_result(job.config, 50_000))
    snap = job.snapshot()
    assert len(snap.result.history) <= HISTORY_CAP and snap.result.history[-1]["step"] == 50_000
    assert snap.history[-1]["step"] == 50_000 and snap.history[-1]["target_acc"] == 50.0


def test_finished_jobs_are_evicted(mgr, monkeypatch):
    monkeypatch.setattr(engine, "train", lambda config, progress=None, cancel=None, out_dir=None:
                        fake_result(config, 1))
    m = mgr(1, max_finished=3)
    for i in range(6):
        m.submit(f"s{i}", tiny()).wait(10)
        time.sleep(0.002)
    # evicted when a job is submitted: the newest 3 finished ones are kept, plus the new one
    assert sorted(m.sessions()) == ["s2", "s3", "s4", "s5"]
    m.submit("s6", tiny()).wait(10)
    assert sorted(m.sessions()) == ["s3", "s4", "s5", "s6"] and m.job_for("s0") is None
    m.keep_finished_s = 0
    m.submit("s7", tiny()).wait(10)
    assert m.sessions() == ["s7"]


def test_singleton_and_max_jobs_from_env(monkeypatch):
    monkeypatch.setattr(admission, "_manager", None)
    monkeypatch.setenv("SHIFTLAB_MAX_JOBS", "3")
    first = manager()
    assert first is manager() and first.max_concurrent == 3 and first.threads_per_job == 1
    monkeypatch.delenv("SHIFTLAB_MAX_JOBS")
    monkeypatch.setattr(admission, "available_cpus", lambda: 2)
    assert admission.default_max_jobs() == 1
    monkeypatch.setattr(admission, "available_cpus", lambda: 8)
    assert admission.default_max_jobs() == 2
    monkeypatch.setenv("SHIFTLAB_MAX_JOBS", "zero")
    assert admission.default_max_jobs() == 2
    from core.util.device import available_cpus

    assert available_cpus() >= 1


def test_orphan_window_from_env(monkeypatch):
    """SHIFTLAB_ORPHAN_S sets the watchdog's window (at least MIN_ORPHAN_S; 'off' disables it) and
    owners beat every third of it, so an open tab is never taken for a closed one."""
    monkeypatch.setattr(admission, "_manager", None)
    monkeypatch.setenv("SHIFTLAB_ORPHAN_S", "9")
    assert manager().orphan_after_s == 9.0 and admission.heartbeat_interval(9.0) == 3.0
    for text, expected in (("0.5", admission.MIN_ORPHAN_S), ("off", None), ("0", None), ("nan", 20.0),
                           ("soon", 20.0), ("", 20.0)):
        monkeypatch.setenv("SHIFTLAB_ORPHAN_S", text)
        assert admission.default_orphan_after_s() == expected, text
    assert admission.heartbeat_interval(None) == admission.heartbeat_interval(60.0) == 5.0


# --------------------------------------------------------------------------- the busy hook

def test_on_busy_change_tells_when_the_first_run_starts_and_the_last_ends(mgr):
    m = mgr(2)
    calls = []
    m.on_busy_change = calls.append
    first = m.submit("a", long())
    wait_for_step(first, 1)
    second = m.submit("b", tiny())
    assert second.wait(120).status == "done"
    assert calls == [True]  # the second run started and ended while the first still ran
    first.cancel()
    first.wait(30)
    wait_until(lambda: calls == [True, False] or None, 10, "the hook hearing the last run end")
    third = m.submit("a", tiny())
    assert third.wait(120).status == "done"
    wait_until(lambda: calls == [True, False, True, False] or None, 10, "the hook hearing the third run")


def test_a_failing_busy_hook_never_fails_the_run(mgr):
    m = mgr()

    def broken(busy):
        raise RuntimeError("the host's hook broke")

    m.on_busy_change = broken
    job = m.submit("a", tiny())
    assert job.wait(120).status == "done" and m.running() == 0
