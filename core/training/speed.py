"""The engine's speed options, measured on the machine at hand instead of assumed.

On a CPU the step's switches — precision (fp32, or bf16 autocast), memory format (channels-last
or not) and thread count — are each faster on some processors and slower on others (bf16 autocast
is a gain with AMX, a loss on CPUs that emulate it). So the first run of a method and model shape
on a machine **calibrates**: every combination trains a few dozen steps of the real method on
random pictures of the run's shape, and the fastest one whose loss stays on the fp32 course is
used. The choice is cached (``$SHIFTLAB_CACHE/speed.json``) per processor, torch version, CPU
count, method and shape, and recorded in every card (``card["speed"]``).

    speed = choose_speed(plan)                 # cached, or calibrated now (a few seconds, once)
    speed.precision, speed.channels_last, speed.threads, speed.rates

Calibration pays for itself: over all candidates it trains at most :data:`CALIBRATION_SHARE` of the
run's own steps (:func:`calibration_steps`), so a short run is not calibrated at all (fixed options,
and the card's note says why) and a long one measures fully; a shape whose warm step takes over
:data:`SLOW_STEP_S` is not calibrated either. The card's ``speed.seconds`` says what deciding cost.

A cache entry that is unreadable, of another format, or from another machine or torch version is
ignored and measured again — never trusted. ``SHIFTLAB_SPEED=fixed`` turns calibration off (the
tests use it: their numbers must not depend on the machine); then ``precision="auto"`` means fp32
on a CPU whatever it advertises (bf16 where a CUDA device computes it natively), channels-last is
on and threads are left as they are. A configuration that names a precision or a thread count keeps it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field

import torch

from .config import PRECISIONS

CACHE_FORMAT = "shiftlab-speed/1"
CACHE_NAME = "speed.json"
STEPS = 24              # timed steps per candidate (after WARMUP)
WARMUP = 4
TIME_BUDGET_S = 1.5     # per candidate: fewer steps when a step is slow
SLOW_STEP_S = 1.0       # a warm-up step slower than this: the shape is too heavy to calibrate in seconds
N_CLASSES = 10          # classes of the random batches calibration measures on
CALIBRATION_SHARE = 0.2  # calibration trains at most this share of the run's own steps, over all candidates
MIN_TIMED = 4           # fewer timed steps per candidate than this: the run is too short to pay for calibrating
COURSE_TOLERANCE = 0.05  # mean relative distance of a candidate's losses from fp32's that still counts as the same course


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 natively (CUDA Ampere+, CPUs with AVX512-BF16/AMX)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            with open("/proc/cpuinfo") as f:
                flags = f.read()
            return "avx512_bf16" in flags or "amx_bf16" in flags
        except OSError:
            return False
    return False


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``precision`` ("fp32": none; "bf16"; "auto": bf16 where native)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "bf16" or (precision == "auto" and native_bf16(device)):
        return torch.bfloat16
    return None


@dataclass
class Speed:
    """The options a run uses: ``precision`` ("fp32" or "bf16"), ``channels_last``, ``threads`` (None:
    as they are), how they were decided (``source``: "calibrated", "cache", "fixed", "given"), and
    every candidate's measured ``rates`` (images per second) when calibrated."""

    precision: str
    channels_last: bool
    threads: int | None
    source: str
    rates: dict = field(default_factory=dict)
    note: str = ""
    seconds: float = 0.0   # what deciding cost (the calibration's wall time; 0 when cached or fixed)

    def card(self) -> dict:
        return asdict(self)


def machine() -> dict:
    """What identifies the machine a calibration holds for."""
    from ..util.device import available_cpus

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return {"cpu": cpu, "cpus": available_cpus(), "torch": torch.__version__}


def cache_key(plan) -> str:
    """The calibration's key: machine, method, backbone, picture size and batch size."""
    c = plan.config
    parts = {**machine(), "method": c.method, "arch": c.arch, "size": plan.image_size, "batch": c.batch_size,
             "model": json.dumps(c.model, sort_keys=True)}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:24]


def _cache_path():
    from ..data.cache import cache_dir

    return cache_dir() / CACHE_NAME


def read_cache() -> dict:
    """The cache's entries, or {} when it is missing, unreadable, of another format or machine."""
    try:
        data = json.loads(_cache_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT or data.get("machine") != machine():
        return {}
    entries = data.get("entries")
    return entries if isinstance(entries, dict) else {}


def _valid(entry) -> bool:
    return (isinstance(entry, dict) and entry.get("precision") in ("fp32", "bf16")
            and isinstance(entry.get("channels_last"), bool)
            and (entry.get("threads") is None or (isinstance(entry.get("threads"), int) and entry["threads"] >= 1)))


def write_cache(key: str, speed: Speed) -> None:
    from ..util.files import write_json_atomic

    entries = read_cache()
    entries[key] = {k: v for k, v in speed.card().items() if k != "source"}
    try:
        write_json_atomic(_cache_path(), {"format": CACHE_FORMAT, "machine": machine(), "entries": entries})
    except OSError:
        pass  # a read-only cache: the next run calibrates again


def fixed(plan) -> Speed:
    """The options without measuring: what the configuration names, else the defaults — fp32 on a
    CPU (only a measurement may pick bf16 there: it is faster on some processors, slower on others,
    and its numbers differ, so a run's results never depend on which processor ran it), bf16 on an
    accelerator that computes it natively."""
    c = plan.config
    cpu_auto = c.precision == "auto" and plan.device.type == "cpu"
    precision = "bf16" if not cpu_auto and autocast_dtype(c.precision, plan.device) is not None else "fp32"
    return Speed(precision, c.channels_last is not False, c.threads, "fixed")


def choose_speed(plan, pictures: bool = True, calibrate: bool | None = None, log=None) -> Speed:
    """The options ``plan`` trains with (see the module docstring); ``pictures``: whether its domains
    hold pictures (points have no memory layout to choose). ``calibrate``: True measures again
    whatever the cache holds (``bench --calibrate``); None uses the cache when it can."""
    c = plan.config
    decided = fixed(plan)
    free = {"precision": c.precision == "auto", "channels_last": c.channels_last is None and pictures,
            "threads": c.threads is None}
    off = os.environ.get("SHIFTLAB_SPEED", "").lower() in ("fixed", "off", "0")
    if plan.device.type != "cpu" or off or not any(free.values()) or plan.world.parallel:
        return decided if any(free.values()) else Speed(decided.precision, decided.channels_last, decided.threads, "given")
    key = cache_key(plan)
    if not calibrate:
        entry = read_cache().get(key)
        if _valid(entry):
            return _merge(decided, Speed(entry["precision"], entry["channels_last"], entry["threads"], "cache",
                                         entry.get("rates") or {}, entry.get("note", "")), free)
    timed = STEPS if calibrate else calibration_steps(c.steps, len(candidates(plan, free)))
    if timed < MIN_TIMED:  # a short run: measuring would cost more than it could save
        return Speed(decided.precision, decided.channels_last, decided.threads, "fixed",
                     note=f"a {c.steps}-step run is too short to pay for calibrating (it would train "
                          f"{len(candidates(plan, free)) * (WARMUP + MIN_TIMED)} steps); fixed options")
    started = time.perf_counter()
    measured = calibrate_plan(plan, free, pictures, log=log, timed=timed)
    measured = dataclasses.replace(measured, seconds=round(time.perf_counter() - started, 2))
    if measured.source == "calibrated":
        write_cache(key, measured)
    return _merge(decided, measured, free)


def calibration_steps(run_steps: int, n_candidates: int) -> int:
    """Timed steps each of ``n_candidates`` options may train so that the calibration as a whole
    (warm-up included) trains at most :data:`CALIBRATION_SHARE` of the run's ``run_steps``, and at
    most :data:`STEPS`: a 10,000-step run measures 24 steps an option, a 100-step run none."""
    return min(STEPS, int(CALIBRATION_SHARE * run_steps / max(1, n_candidates)) - WARMUP)


def _merge(decided: Speed, measured: Speed, free: dict) -> Speed:
    """``measured`` for the options the configuration left to the engine, ``decided`` for the rest."""
    return Speed(measured.precision if free["precision"] else decided.precision,
                 measured.channels_last if free["channels_last"] else decided.channels_last,
                 measured.threads if free["threads"] else decided.threads,
                 measured.source, measured.rates, measured.note, measured.seconds)


def candidates(plan, free: dict) -> list[tuple[str, bool, int | None]]:
    """Every (precision, channels_last, threads) worth measuring; fp32 / channels-last / as-is first."""
    from ..util.device import available_cpus

    c = plan.config
    precisions = ("fp32", "bf16") if free["precision"] else (fixed(plan).precision,)
    layouts = (True, False) if free["channels_last"] else (c.channels_last is not False,)
    cpus = available_cpus()
    threads = tuple(dict.fromkeys([cpus, 1])) if free["threads"] else (c.threads,)
    return list(itertools.product(precisions, layouts, threads))


def calibrate_plan(plan, free: dict, pictures: bool = True, log=None, timed: int | None = None) -> Speed:
    """Measure every candidate on random batches of the run's shape with the run's own method
    (``timed`` steps each after the warm-up; default :data:`STEPS`); the fastest whose losses stay
    within :data:`COURSE_TOLERANCE` of fp32's (same seed, same batches)."""
    saved_threads = torch.get_num_threads()
    rates, losses = {}, {}
    try:
        with torch.random.fork_rng():  # the run's own random streams are left as they were
            batches = _random_batches(plan, pictures, STEPS if timed is None else timed)
            for precision, channels_last, threads in candidates(plan, free):
                name = f"{precision}/{'nhwc' if channels_last else 'nchw'}/{threads}"
                if threads:
                    torch.set_num_threads(threads)
                try:
                    run, rate, slow = _measure(plan, batches, precision, channels_last and pictures)
                except Exception as err:  # noqa: BLE001 - an option this machine cannot run is not chosen
                    rates[name] = None
                    if log:
                        log(f"speed: {precision} {channels_last} {threads}: {type(err).__name__}: {err}")
                    continue
                if slow and not rates:  # the first candidate (fp32): the shape is too heavy to calibrate in seconds
                    return Speed(**{**fixed(plan).card(), "note": "a step is too slow to calibrate in seconds"})
                rates[name], losses[name] = rate, run
    finally:
        torch.set_num_threads(saved_threads)
    return _fastest_on_course(plan, rates, losses)


def _random_batches(plan, pictures: bool, timed: int = STEPS) -> list:
    """:data:`WARMUP` + ``timed`` batches of random pictures (or points) of the run's shape and
    batch size, ten classes, from a fixed seed (every candidate sees the same ones)."""
    from ..methods import Batch

    c, size = plan.config, plan.image_size
    shape = (3, size, size) if pictures else (size,)
    g = torch.Generator().manual_seed(0)
    steps = WARMUP + timed
    xs = [torch.rand(c.batch_size, *shape, generator=g) for _ in range(steps)]
    xt = [torch.rand(c.batch_size, *shape, generator=g) for _ in range(steps)]
    ys = [torch.randint(0, N_CLASSES, (c.batch_size,), generator=g) for _ in range(steps)]
    return [Batch(xs[i], ys[i], xt[i], ys[i]) for i in range(steps)]


def _measure(plan, batches: list, precision: str, channels_last: bool) -> tuple[list[float], float, bool]:
    """Train the run's method from seed 0 on ``batches`` with one option set: (losses per step, images
    per second over the timed steps, whether a warm step was slower than :data:`SLOW_STEP_S` — then
    the rate is that of the steps from the slow one on)."""
    from ..methods import Batch, Context
    from ..models import build_model

    c, size, steps = plan.config, plan.image_size, len(batches)
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = build_model({**c.model_spec(), **plan.method.model_spec, "num_classes": N_CLASSES,
                         "input_size": size}).to(memory_format=fmt)
    ctx = Context(device=plan.device, source_classes=[str(i) for i in range(N_CLASSES)],
                  target_classes=[str(i) for i in range(N_CLASSES)], steps=steps, seed=0,
                  generator=torch.Generator().manual_seed(0),
                  amp_dtype=torch.bfloat16 if precision == "bf16" else None, fused_optimizer=True,
                  models=plan.models)
    method = plan.method(model, ctx, lr=c.lr, weight_decay=c.weight_decay, optimizer=c.optimizer,
                         lr_anneal=c.lr_anneal, warmup=c.warmup, **c.hparams)
    run, t0, slow = [], time.perf_counter(), False
    for i, b in enumerate(batches):
        batch = Batch(b.xs.contiguous(memory_format=fmt) if b.xs.dim() == 4 else b.xs, b.ys,
                      b.xt.contiguous(memory_format=fmt) if b.xt.dim() == 4 else b.xt,
                      b.yt if method.target_labels != "none" else None)
        if i == WARMUP:
            t0 = time.perf_counter()
        started = time.perf_counter()
        run.append(method.step(batch, i / steps)["loss"])
        if i == WARMUP - 1 and time.perf_counter() - started > SLOW_STEP_S:  # warm, and still slow
            t0, slow = started, True  # its rate from this one step on
            break
        if i >= WARMUP and time.perf_counter() - t0 > TIME_BUDGET_S:
            break
    timed = max(1, len(run) - WARMUP)
    return run, round(2 * c.batch_size * timed / max(time.perf_counter() - t0, 1e-9), 1), slow


def _fastest_on_course(plan, rates: dict, losses: dict) -> Speed:
    """The fastest measured option whose losses follow fp32's (see :func:`calibrate_plan`)."""
    reference = next((losses[n] for n in losses if n.startswith("fp32")), None)

    def on_course(name: str) -> bool:
        if reference is None or name.startswith("fp32"):
            return True
        pairs = list(zip(losses[name], reference))
        return statistics.fmean(abs(a - b) / max(abs(b), 1e-6) for a, b in pairs) <= COURSE_TOLERANCE

    usable = {n: r for n, r in rates.items() if r is not None and on_course(n)}
    if not usable:
        return Speed(**{**fixed(plan).card(), "note": "no candidate could be measured"})
    best = max(usable, key=usable.get)
    precision, layout, threads = best.split("/")
    return Speed(precision, layout == "nhwc", None if threads == "None" else int(threads), "calibrated", rates,
                 "off course (not chosen): " + ", ".join(n for n in rates if rates[n] and n not in usable)
                 if len(usable) < len([r for r in rates.values() if r]) else "")
