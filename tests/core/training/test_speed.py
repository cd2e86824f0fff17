"""The engine's speed options, measured (core.training.speed): calibration, its cache (never trusted
when stale, corrupt or from another machine) and the card's record of the choice."""

from __future__ import annotations

import json

import pytest

from core.training import speed
from core.training.plan import prepare_run
from core.training.recipes import recipe


@pytest.fixture
def calibrating(monkeypatch, tmp_path):
    """Calibration on (the suite turns it off), quick, into a fresh cache."""
    monkeypatch.delenv("SHIFTLAB_SPEED", raising=False)
    monkeypatch.setenv("SHIFTLAB_CACHE", str(tmp_path))
    monkeypatch.setattr(speed, "STEPS", 3)
    monkeypatch.setattr(speed, "WARMUP", 1)
    monkeypatch.setattr(speed, "CALIBRATION_SHARE", 1e4)  # these 3-step runs may pay for it
    monkeypatch.setattr(speed, "MIN_TIMED", 1)
    return tmp_path


def plan(**kw):
    return prepare_run(recipe("dann", "mnist", "mnistm", steps=3, eval_every=0, **kw))


def test_calibration_measures_every_option_and_caches_the_fastest(calibrating):
    chosen = speed.choose_speed(plan())
    assert chosen.source == "calibrated"
    assert set(chosen.rates) == {f"{p}/{m}/{t}" for p in ("fp32", "bf16") for m in ("nhwc", "nchw")
                                 for t in {speed.machine()["cpus"], 1}}
    best = max((r, n) for n, r in chosen.rates.items() if r)[1]
    assert best.startswith(chosen.precision) or "off course" in chosen.note
    again = speed.choose_speed(plan())
    assert again.source == "cache" and (again.precision, again.channels_last, again.threads) == \
        (chosen.precision, chosen.channels_last, chosen.threads)


@pytest.mark.parametrize("damage", ["corrupt", "other machine", "other format", "bad entry"])
def test_a_stale_or_corrupt_cache_is_ignored_and_measured_again(calibrating, damage):
    speed.choose_speed(plan())
    path = calibrating / speed.CACHE_NAME
    data = json.loads(path.read_text())
    if damage == "corrupt":
        path.write_text("{not json")
    else:
        if damage == "other machine":
            data["machine"]["cpu"] = "a processor that is not this one"
        elif damage == "other format":
            data["format"] = "shiftlab-speed/0"
        else:
            for entry in data["entries"].values():
                entry["precision"] = "fp8"
        path.write_text(json.dumps(data))
    assert speed.choose_speed(plan()).source == "calibrated"


def test_what_the_configuration_names_is_kept(calibrating):
    chosen = speed.choose_speed(plan(precision="fp32", channels_last=False, threads=1))
    assert (chosen.precision, chosen.channels_last, chosen.threads, chosen.source) == ("fp32", False, 1, "given")


def test_fixed_mode_does_not_measure_and_the_card_records_the_choice(monkeypatch, tmp_path):
    monkeypatch.setenv("SHIFTLAB_SPEED", "fixed")
    monkeypatch.setenv("SHIFTLAB_CACHE", str(tmp_path))
    from core.training.engine import train

    result = train(plan())
    assert result.card["speed"]["source"] == "fixed" and not (tmp_path / speed.CACHE_NAME).exists()


def test_a_candidate_off_the_fp32_course_is_not_chosen(calibrating, monkeypatch):
    monkeypatch.setattr(speed, "COURSE_TOLERANCE", -1.0)  # nothing but fp32 itself is on course
    chosen = speed.choose_speed(plan())
    assert chosen.precision == "fp32" and "off course" in chosen.note


def test_bench_calibrate_prints_every_option(calibrating, capsys):
    from core.cli import main

    assert main(["bench", "--calibrate", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["source"] == "calibrated" and len(report["rates"]) >= 4 and report["chosen"]["precision"] in ("fp32", "bf16")


@pytest.mark.parametrize("native", [True, False])
def test_fixed_options_on_a_cpu_are_fp32_whatever_the_processor_advertises(monkeypatch, native):
    """Tests train with fixed options (SHIFTLAB_SPEED=fixed): their numbers must not depend on
    whether the processor has bf16 tiles (AMX) or emulates them."""
    monkeypatch.setenv("SHIFTLAB_SPEED", "fixed")
    monkeypatch.setattr(speed, "native_bf16", lambda device: native)
    chosen = speed.choose_speed(plan(device="cpu"))
    assert (chosen.precision, chosen.source) == ("fp32", "fixed")
    named = speed.choose_speed(plan(device="cpu", precision="bf16"))
    assert named.precision == "bf16"  # a precision the configuration names is kept


def test_calibration_trains_at_most_its_share_of_the_run():
    n = 8  # fp32/bf16 × two layouts × two thread counts
    for run_steps in (300, 1000, 5000, 20_000):
        timed = speed.calibration_steps(run_steps, n)
        if timed >= speed.MIN_TIMED:
            assert n * (speed.WARMUP + timed) <= speed.CALIBRATION_SHARE * run_steps
    assert speed.calibration_steps(100_000, n) == speed.STEPS  # a long run measures fully
    assert speed.calibration_steps(100, n) < speed.MIN_TIMED  # the Train page's 100-step demo: not at all


def test_a_short_run_is_not_calibrated_and_says_why(calibrating, monkeypatch):
    monkeypatch.setattr(speed, "CALIBRATION_SHARE", 0.2)
    monkeypatch.setattr(speed, "MIN_TIMED", 4)
    chosen = speed.choose_speed(plan())  # 3 steps
    assert chosen.source == "fixed" and "too short to pay for calibrating" in chosen.note
    assert chosen.precision == "fp32" and chosen.seconds == 0.0
    assert not (calibrating / speed.CACHE_NAME).exists()  # nothing measured, nothing cached


def test_what_calibrating_cost_is_in_the_choice(calibrating):
    chosen = speed.choose_speed(plan())
    assert chosen.source == "calibrated" and chosen.seconds > 0 and chosen.card()["seconds"] == chosen.seconds
