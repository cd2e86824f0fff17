"""Five sessions at once, each predicting its own uploads and training its own run, share one
process (as in the deployed app): nobody's uploads, predictions or progress show up in another's."""

from __future__ import annotations

import io
import resource
import threading

from PIL import Image

from core.data import load_domain
from core.training.engine import TrainConfig
from core.inference.predictions import predict_uploads
from core.jobs import JobManager
from core.models import build_model

N_SESSIONS = 5


def _uploads(session: int) -> list[tuple[str, bytes]]:
    """Eight target test pictures per session (different for each), plus one broken file."""
    domain = load_domain("mnistm", "test")
    files = []
    for i in range(8):
        img = domain.images[session * 8 + i].permute(1, 2, 0).numpy()
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="PNG")
        files.append((f"s{session}-img{i}.png", buf.getvalue()))
    files.append((f"s{session}-broken.png", b"not an image at all"))
    return files


def test_five_sessions_predict_and_train_without_cross_talk():
    model = build_model({"arch": "digits_cnn", "num_classes": 10}).eval()  # shared, as st.cache_resource does
    models = {"source only": model, "adapted": model}
    expected = {s: predict_uploads(models, _uploads(s))[0] for s in range(N_SESSIONS)}  # one at a time
    manager = JobManager(max_concurrent=N_SESSIONS)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    results, errors = {}, []
    barrier = threading.Barrier(N_SESSIONS)

    def session(s: int) -> None:
        try:
            barrier.wait()
            job = manager.submit(f"session-{s}", TrainConfig(
                method="source_only", source="mnist", target="ucidigits", steps=15, batch_size=16,
                eval_every=0, seed=100 + s, device="cpu", lr_anneal=False))
            for _ in range(3):  # predict while the runs train
                rows, bad = predict_uploads(models, _uploads(s))
            snap = job.wait(120)
            results[s] = (rows, bad, snap, manager.job_for(f"session-{s}").snapshot())
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(f"session {s}: {err!r}")

    threads = [threading.Thread(target=session, args=(s,)) for s in range(N_SESSIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    for s in range(N_SESSIONS):
        rows, bad, snap, latest = results[s]
        assert [r["name"] for r in rows] == [f"s{s}-img{i}.png" for i in range(8)]
        assert list(bad) == [f"s{s}-broken.png"]
        for got, want in zip(rows, expected[s]):
            for key in models:
                got_top = [(c, round(p, 5)) for c, p in got["predictions"][key]]
                want_top = [(c, round(p, 5)) for c, p in want["predictions"][key]]
                assert got_top == want_top
        assert snap.status == "done", snap.error
        assert snap.session_id == latest.session_id == f"session-{s}"
        assert snap.config.seed == 100 + s and snap.step == 15
    growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert growth_mb < 600, f"peak memory grew by {growth_mb:.0f} MB"
