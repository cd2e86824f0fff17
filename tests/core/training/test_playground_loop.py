"""The Playground's loop (core.training.playground): what each frame holds, the background
thread, and the claims the page teaches — every method that runs on points beats source-only on a
covariate toy shift, the label-shift preset hurts DANN, and nothing without target labels fixes
the concept shift. Fixed seeds, margins well inside what was measured (scripts/bench/bench_playground.py)."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from core.methods import METHODS, baseline, default_method, runs_on_points
from core.training.playground import ALIGNED, GRID, PRESETS, Playground, preset, preview, reading
from tests.support.waiting import wait_until

# Two covariate shifts: the covariate preset's 35° turn (source-only misses about 30 % of the
# target) and a milder 20° one (about 9 %). A method's outcome on one seed depends on the rounding
# of the processor's kernels as much as on the seed, so each claim is a mean over SEEDS.
COVARIATE = ("toy:moons", "toy:moons?rotate=35")
MILDER = ("toy:moons", "toy:moons?rotate=20")
SEEDS = (0, 1, 2)
MARGIN = 4.0  # points of target error (mean over SEEDS) every adapting method must gain over source-only


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


@functools.lru_cache(maxsize=None)  # one run per (method, shift, seed) for the whole module
def final(method: str, source: str, target: str, steps: int = 1000, **kw):
    return Playground(source, target, method, steps=steps, compare=False, **kw).run().frames[method]


@pytest.fixture(scope="module")
def source_only_covariate():
    return final(baseline(), *COVARIATE)


def mean_target_error(method: str, shift) -> float:
    return float(np.mean([final(method, *shift, seed=seed).target_error for seed in SEEDS]))


@pytest.fixture(scope="module")
def source_only_means():
    return {shift: mean_target_error(baseline(), shift) for shift in (COVARIATE, MILDER)}


def test_a_1000_step_run_finishes_with_every_frame():
    """(How long it takes is a benchmark, scripts/bench/bench_playground.py, not a test.)"""
    snap = Playground("toy:moons", "toy:moons?rotate=35", default_method(), steps=1000, compare=False).run()
    assert snap.status == "done" and snap.step == 1000 and snap.frame_count == 41


def test_a_frame_holds_the_regions_the_boundary_the_features_and_the_three_terms():
    snap = Playground("toy:moons", "toy:moons?rotate=35", default_method(), steps=100, every=25).run()
    assert snap.methods == [baseline(), default_method()] and snap.status == "done"
    assert [c["step"] for c in snap.curves[default_method()]] == [0, 25, 50, 75, 100]
    for name in snap.methods:
        f = snap.frames[name]
        assert f.regions.shape == f.confidence.shape == f.feature_regions.shape == (GRID, GRID)
        assert set(np.unique(f.regions)) <= {0, 1} and f.features_source.shape == f.features_target.shape == (300, 2)
        assert 0 <= f.source_error <= 100 and 0 <= f.target_error <= 100 and 0 <= f.distance <= 2
    adversarial, plain = snap.frames[default_method()], snap.frames[baseline()]
    assert adversarial.domain_prob.shape == adversarial.feature_domain_prob.shape == (GRID, GRID)
    assert 0 <= adversarial.domain_prob.min() <= adversarial.domain_prob.max() <= 1
    assert plain.domain_prob is None  # source-only has no discriminator to draw
    assert snap.source_points.shape == snap.target_points.shape == (300, 2) and snap.classes == ["A", "B"]


def test_runs_are_deterministic():
    a = Playground(*COVARIATE, default_method(), steps=200).run()
    b = Playground(*COVARIATE, default_method(), steps=200).run()
    assert a.curves == b.curves


def test_the_background_run_publishes_changing_snapshots_and_can_be_stopped():
    pg = Playground(*COVARIATE, default_method(), steps=20_000, every=50).start()
    seen = set()

    def three_frames() -> bool:
        assert pg.alive, pg.latest().error
        snap = pg.latest()
        if snap.frames:
            seen.add((snap.step, snap.frames[default_method()].regions.tobytes()))
        return len(seen) >= 3

    wait_until(three_frames, 60, "three published frames", poll=0.02)
    pg.cancel()
    snap = pg.join(30)
    assert not pg.alive and snap.status == "cancelled" and 0 < snap.step < 20_000
    assert len({regions for _, regions in seen}) >= 2  # the picture itself changed, not only the step


def test_refusals_are_one_line():
    from core.methods import needs_pictures

    with pytest.raises(ValueError) as err:
        Playground(*COVARIATE, needs_pictures()[0])
    assert "needs pictures" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ValueError, match="outside its range"):
        Playground("toy:moons", "toy:moons?scale=9", default_method())
    with pytest.raises(ValueError, match="toy point domains"):
        Playground("mnist", "mnistm", default_method())


ADAPTING = [n for n in runs_on_points() if n != baseline() and METHODS[n].family != "generalization"]


@pytest.mark.slow
@pytest.mark.parametrize("method", ADAPTING)
def test_every_method_that_runs_on_points_beats_source_only_on_a_covariate_shift(method, source_only_means):
    """On the 35° turn, or where it does not (Deep CORAL: matching covariances leaves a turn's
    direction free, measured −4.8 and −1.7 points on seeds 0 and 2), on the milder 20° one."""
    errors = {}
    for shift in (COVARIATE, MILDER):
        errors[shift[1]] = mean_target_error(method, shift)
        if errors[shift[1]] <= source_only_means[shift] - MARGIN:
            break
    else:
        pytest.fail(f"{method}: mean target error {errors} vs source-only "
                    f"{ {s[1]: round(v, 1) for s, v in source_only_means.items()} }")
    assert final(method, *COVARIATE).source_error <= 6.0  # and it still knows the source


def test_domain_generalisation_on_one_source_is_source_only(source_only_covariate):
    """A generalisation method never looks at the target; with a single source its alignment term
    between sources is zero, so it trains exactly as source-only does."""
    for method in (n for n in runs_on_points() if METHODS[n].family == "generalization"):
        frame = final(method, *COVARIATE)
        assert frame.target_error == pytest.approx(source_only_covariate.target_error, abs=0.5), method


def _preset_run(key: str, seed: int = 0):
    p = preset(key)
    return Playground(p.source, p.target, p.method_name, steps=p.steps, seed=seed).run()


def test_the_covariate_preset_is_fixed_by_its_method():
    snap = _preset_run("covariate")
    base, method = snap.frames[snap.methods[0]], snap.frames[snap.methods[1]]
    assert base.target_error >= 20 and method.target_error <= base.target_error - 12
    # the proxy distance need not fall with the error (on seed 0 it ends about where source-only's
    # does): the reading says which happened, in words that match its numbers
    assert "closed" in reading(snap) and f"{base.distance:.2f} → {method.distance:.2f}" in reading(snap)


@pytest.mark.parametrize("seed", [0, 2])  # 2: the seed where the harm and the alignment are smallest (0–4 measured)
def test_the_label_shift_preset_hurts_its_method(seed):
    snap = _preset_run("label", seed)
    base, method = snap.frames[snap.methods[0]], snap.frames[snap.methods[1]]
    assert method.target_error >= base.target_error + 4, (method.target_error, base.target_error)
    assert method.distance <= base.distance - ALIGNED  # it did align the features
    assert "aligned the domains but swapped the classes" in reading(snap)


def test_the_preview_shows_the_points_a_run_will_draw_before_any_training():
    before = preview(*COVARIATE)
    assert before.status == "preview" and not before.frames and not before.finished
    assert before.source_points.shape == before.target_points.shape == (300, 2) and before.classes == ["A", "B"]
    run = Playground(*COVARIATE, default_method(), steps=2, every=1).run()
    assert np.array_equal(run.source_points, before.source_points) and run.extent == before.extent
    assert np.array_equal(run.target_labels, before.target_labels)
    turned = preview("toy:moons", "toy:moons?rotate=65")
    assert np.array_equal(turned.source_points, before.source_points)  # the source stays put
    assert not np.allclose(turned.target_points, before.target_points)  # the target turned
    with pytest.raises(ValueError, match="toy point domains"):
        preview("mnist", "mnistm")


def _frame(target_error: float, distance: float, source_error: float = 1.0):
    return type("F", (), {"target_error": target_error, "distance": distance, "source_error": source_error})()


@pytest.mark.parametrize("distance, says", [
    (0.2, "harder to tell apart by domain (0.80 → 0.20)"),
    (0.85, "about as easy to tell apart"),
    (1.5, "yet its features are easier to tell apart by domain than source-only's (0.80 → 1.50)"),
])
def test_the_reading_of_a_gain_says_what_the_distance_did(distance, says):
    from core.training.playground import Snapshot

    snap = Snapshot("toy:moons", "toy:moons?rotate=35", [baseline(), default_method()], 10, status="done",
                    frames={baseline(): _frame(40.0, 0.8), default_method(): _frame(10.0, distance)})
    line = reading(snap)
    assert "closed the gap" in line and says in line and "lowers the distance" not in line


def test_the_concept_shift_preset_is_fixed_by_nothing_that_lacks_target_labels():
    p = preset("concept")
    base = final(baseline(), p.source, p.target, steps=500)
    assert base.target_error >= 40 and base.distance < 0.2  # a big gap the features cannot see
    for method in (n for n in runs_on_points() if METHODS[n].target_labels == "none" and n != baseline()):
        frame = final(method, p.source, p.target, steps=500)
        assert frame.target_error >= base.target_error - 2, (method, frame.target_error, base.target_error)
    oracle = next(n for n in runs_on_points() if METHODS[n].target_labels == "all")
    assert final(oracle, p.source, p.target, steps=500).target_error < 10  # target labels do fix it
    assert "Nothing to align" in reading(_preset_run("concept"))


def test_presets_are_three_and_name_their_method_by_its_label():
    assert [p.expect for p in PRESETS] == ["fixes", "hurts", "nothing"]
    label = METHODS[default_method()].label
    assert PRESETS[0].label == f"Covariate shift {label} fixes" and PRESETS[1].target.startswith("toy:moons?")
    label_method = PRESETS[1].method_name  # the method that declares the preset in its own file
    assert "label" in METHODS[label_method].playground_presets
    assert PRESETS[1].label == f"Label shift that hurts {METHODS[label_method].label}"
    with pytest.raises(ValueError, match="covariate, label, concept"):
        preset("nope")


def test_a_run_in_a_child_process_sends_its_snapshots_back_and_stops_when_told():
    pg = Playground(*COVARIATE, default_method(), steps=20_000, every=50).start(process=True)

    def past_step_100() -> bool:
        assert pg.alive, pg.latest().error
        return pg.latest().step >= 100

    wait_until(past_step_100, 60, "the child's run passing step 100", poll=0.02)
    pg.cancel()
    snap = pg.join(30)
    assert snap.status == "cancelled" and 100 <= snap.step < 20_000 and snap.frames[default_method()].regions.shape
    done = Playground(*COVARIATE, default_method(), steps=100, every=25).start(process=True).join(60)
    assert done.status == "done" and done.curves == Playground(*COVARIATE, default_method(), steps=100,
                                                                every=25).run().curves  # the same run
