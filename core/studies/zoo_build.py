"""Rebuilding the zoo: train every scenario × method, choose without target labels, ship seed 0 of
each (fp16 weights, a card re-evaluated on the shipped weights, a precomputed alignment map) and
write the leaderboard.

    python -m core zoo rebuild                 # the shipped zoo: 3 seeds, recipes' steps
    python -m core zoo rebuild --tiny          # 3 steps, 1 seed, into a temporary folder (CI)

The zoo is the evidence behind every label-free choice: each run is trained and scored through
:func:`core.selection.train_and_score` (every validator, on the unlabelled target *train* images
and the source validation split); every recommend candidate (:func:`core.selection.is_candidate`)
trains on every seed, and the pool-aware validators (EnsV, MixVal) score all of a scenario's
candidate runs together. Per scenario the *recommended* method is
:func:`core.selection.choose_agreeing`'s pick: among the candidates whose seeds agree on the
unlabelled target within :data:`core.selection.AGREEMENT_MARGIN` of the most agreeing one's, the
best mean score of the default validator (:func:`core.selection.default_validator`) whose
predictions have not collapsed — the rule ``recommend`` applies by default — and it teaches the
distilled student. The other methods (the
target-label bounds, domain generalisation) train on every seed too (on seed 0 only with
``all_seeds=False``). Every run is a cell stored as it finishes (:mod:`core.studies.zoo_cells`),
so a stopped build resumes. Target *test* labels only report: the leaderboard shows the best method in
hindsight beside the recommended one, what following each validator would have cost (the
selection gap) and how well each validator's scores rank the runs (Spearman's rho).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import shutil
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .. import checkpoints
from ..data import load_domain
from ..data.scenarios import Scenario
from ..evaluation import evaluate_accuracy
from ..evaluation.embedding import compute_alignment
from ..methods import METHODS, baseline
from ..selection.choice import mean_scores, reads_agreement
from ..selection import AGREEMENT_MARGIN, choose_agreeing, default_validator, seed_agreement, is_candidate, train_and_score
from ..training import recipes
from ..util.device import resolve_device
from ..util.files import (clean_dead_temps, clean_dead_workdirs, owned_dir, read_bounded, recover_swap, swap_dir_in,
                          temp_sibling, write_json_atomic)
from ..util.sizes import format_bytes
from ..util.stats import mean_std, rounded, spearman
from ..validators import VALIDATORS, gather_evidence, score_pool_all
from ..zoo.index import (ALIGNMENT_NAME, scenario_folder, scan_models, display_order, make_name, method_order, scenario_key,
                     scenarios, zoo_dir)
from ..zoo.leaderboard import LEADERBOARD_NAME, PUBLISHED, PUBLISHED_NOTE, record_not_built
from .zoo_cells import (Cell, StaleCell, cell_dir, clear_cell, code_version, load_cell, lock_cell, now_utc, save_cell,
                        unlock_cell)

MAX_TOTAL_BYTES = 30 * 1024 * 1024          # keep the shipped zoo under 30 MiB
FP16_TOLERANCE = 0.5                        # points of target accuracy fp16 weights may cost
SHIPPED_FILES = frozenset({"model.safetensors", "card.json", ALIGNMENT_NAME})
WORK_PREFIX = "shiftlab-zoo-work-"

def _recover(scen_dir: Path) -> None:
    """Restore models a killed swap left as ``NAME.old`` and remove dead writers' temp folders."""
    if not scen_dir.is_dir():
        return
    for entry in list(os.scandir(scen_dir)):
        if entry.name.endswith(".old"):
            recover_swap(scen_dir / entry.name[:-len(".old")], SHIPPED_FILES)
        elif not entry.name.startswith("."):
            clean_dead_temps(scen_dir / entry.name)


def _dir_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _device_label(device) -> str:
    dev = resolve_device(device)
    if dev.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(dev)})"
    if dev.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(dev)


def _settings(method: str, source: str, target: str, steps: int | None) -> dict:
    fields = asdict(recipes.recipe(method, source, target, **({"steps": steps} if steps else {})))
    for k in ("method", "source", "target", "seed", "device"):
        fields.pop(k, None)
    for name in _model_refs(method):
        fields["hparams"] = {**fields["hparams"], name: TEACHER_RULE}
    return fields


CARD_MAX_BYTES = 4 << 20


def _cell_settings(config, method: str, teacher: str | None) -> dict:
    """What a cell was trained with, as its record keeps it: the run's configuration without the
    device, a teacher named by its method (its checkpoint's path is the build's own business)."""
    fields = asdict(config)
    fields.pop("device", None)
    refs = set(_model_refs(method))
    fields["hparams"] = {k: (f"teacher:{teacher}" if k in refs else v) for k, v in fields["hparams"].items()}
    return json.loads(json.dumps(fields))  # as the JSON record reads back (tuples → lists)


TEACHER_RULE = "the scenario's recommended method (chosen by the validator, no target labels), same seed"


def _model_refs(method: str) -> list[str]:
    """The hyperparameters through which ``method`` takes a trained model (a teacher)."""
    return [n for n in METHODS[method].model_hyperparameters() if METHODS[method].hyperparameters[n].required]


def normalise_scenarios(items) -> list[tuple[str, str]]:
    if items is None:
        return scenarios()
    return [Scenario.parse(item) for item in items]


def normalise_methods(items) -> list[str]:
    order = method_order()
    if items is None:  # what a full rebuild ships: every in_zoo method and every recommend candidate
        return order
    items = list(dict.fromkeys(items))
    unknown = [m for m in items if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from: {', '.join(order)}")
    return sorted(items, key=lambda m: (order.index(m) if m in order else len(order), m))


@dataclass
class _Run:
    """One finished training run: its numbers, its card and its fp32 checkpoint on disk."""

    target_acc: float
    source_acc: float
    seconds: float
    card: dict
    checkpoint: Path
    scores: dict = None  # label-free validator scores, {validator: score}
    share: float | None = None  # the most-predicted class's share of the unlabelled target images
    evidence: object = None  # what the validators read (pool-aware ones score the scenario's runs together)
    guard: dict | None = None  # the training curve's collapse checks (core.training.collapse_watch)
    cell: Cell | None = None  # its stored record (seeds, code version, build time)
    target_top: list[int] | None = None  # its top class on each unlabelled target picture (the seeds' agreement)


class _Builder:
    """State of one :func:`rebuild`: trains runs into a work folder, ships seed 0 into ``out_dir``."""

    def __init__(self, *, out_dir: Path, work: Path, seeds: list[int], device, steps, tiny: bool,
                 n_runs: int, log: Callable[[str], Any], all_seeds: bool = True, resume: bool = False,
                 train_new: bool = True):
        self.validator, self.all_seeds = None, all_seeds  # set by rebuild once the candidates are known
        self.out_dir, self.work, self.seeds, self.device = out_dir, work, seeds, device
        self.steps, self.tiny, self.n_runs, self.log = steps, tiny, n_runs, log
        self.resume, self.train_new = resume, train_new
        self.n_points, self.embed = (60, "pca") if tiny else (500, "umap")
        self.done = 0
        self.domains: dict = {}  # scenario key -> its loaded splits, shared by the scenario's runs
        self.failures: list[str] = []
        self.failed: dict[str, dict[str, list[dict]]] = {}  # scenario key -> method -> [{seed, error}]
        self.missing: list[str] = []  # cells neither stored nor trained (train_new=False)
        self.busy: list[str] = []  # cells another build sharing the work folder was training
        self.shipped: set[str] = set()

    # ---- training ----------------------------------------------------------------------------
    def train(self, source: str, target: str, method: str, seed: int, hparams: dict | None = None,
              teacher: str | None = None) -> _Run | None:
        """One cell: with ``resume``, the stored one where it can be reused (:func:`load_cell`; the log
        says why one cannot); else train and score it with the method's recipe
        (:func:`core.selection.train_and_score`: every validator's label-free score and the largest
        predicted class share, the collapse rule's input) and store it. None (logged, counted as a
        failure and stored as failed) if it fails."""
        self.done += 1
        skey = scenario_key(source, target)
        where = f"[{self.done:>3}/{self.n_runs}] {skey:<22} {method:<14} seed {seed}"
        path = cell_dir(self.work, scenario_folder(source, target), method, seed)
        config = recipes.recipe(method, source, target, seed=seed, device=self.device,
                                **({"steps": self.steps} if self.steps else {}),
                                **({"hparams": hparams} if hparams else {}))
        settings = _cell_settings(config, method, teacher)
        owner = lock_cell(path)
        if owner is not None:
            self.busy.append(f"{skey}/{method} seed {seed}")
            self.log(f"{where}: skipped, being built by process {owner} (sharing {self.work})")
            return None
        try:
            return self._run_cell(config, settings, path, where, skey, method, seed)
        finally:
            unlock_cell(path)

    def _run_cell(self, config, settings: dict, path: Path, where: str, skey: str, method: str,
                  seed: int) -> _Run | None:
        if self.resume:
            stored = self._stored(path, settings, where)
            if stored is not None:
                return self._reuse(stored, path, where)
        if not (self.train_new is True or method in (self.train_new or ())):
            self.missing.append(f"{skey}/{method} seed {seed}")
            self.log(f"{where}: not built (no stored cell, and this build trains "
                     f"{', '.join(self.train_new) if self.train_new else 'nothing'})")
            return None
        clear_cell(path)
        cell = Cell(scenario=skey, method=method, seed=seed, settings=settings,
                    code_version=code_version(method))
        started = time.perf_counter()
        try:
            done = train_and_score(config, self.validator, out_dir=path, domains=self.domains.get(skey),
                                   require_score=False)
        except Exception as e:  # one diverged run must not cost the others
            cell.status, cell.error = "failed", f"{type(e).__name__}: {e}"
            cell.built_at, cell.build_seconds = now_utc(), round(time.perf_counter() - started, 1)
            save_cell(path, cell)
            self._failed(skey, method, seed, cell.error, where)
            return None
        self.domains[skey] = done["domains"]
        r = done["result"]
        scores = {k: rounded(v, 6) for k, v in done["scores"].items() if rounded(v, 6) is not None}
        cell.target_acc, cell.source_acc, cell.seconds = rounded(r.target_acc), rounded(r.source_acc), rounded(r.seconds, 2)
        cell.scores, cell.share, cell.guard = scores, rounded(done["largest_class_share"]), r.card.get("collapse_guard")
        cell.built_at, cell.build_seconds = now_utc(), round(time.perf_counter() - started, 1)
        save_cell(path, cell)
        src = "" if math.isnan(r.source_acc) else f"  source {r.source_acc:6.2f}%"
        shown = scores.get(self.validator)
        shown = "" if shown is None else f"  {self.validator} {shown:.4f}"
        self.log(f"{where}: target {r.target_acc:6.2f}%{src}{shown}  ({r.seconds:.1f} s)")
        return _Run(r.target_acc, r.source_acc, r.seconds, r.card, path, dict(scores), cell.share,
                    done["evidence"], cell.guard, cell)

    def _stored(self, path: Path, settings: dict, where: str) -> Cell | None:
        try:
            return load_cell(path, settings=settings)
        except StaleCell as why:
            self.log(f"{where}: the stored cell is rebuilt: {why}")
            return None

    def _reuse(self, cell: Cell, path: Path, where: str) -> _Run | None:
        """A stored cell as a run (its evidence is gathered again if a pool-aware validator needs it);
        a stored failure stays one (the same code and settings fail the same way)."""
        if cell.status == "failed":
            self._failed(cell.scenario, cell.method, cell.seed, f"{cell.error} (stored {cell.built_at})", where)
            return None
        card = json.loads(read_bounded(path / "card.json", CARD_MAX_BYTES).decode("utf-8"))
        src = "" if cell.source_acc is None else f"  source {cell.source_acc:6.2f}%"
        self.log(f"{where}: target {cell.target_acc:6.2f}%{src}  (stored {cell.built_at}, {cell.build_seconds} s)")
        nan = float("nan")
        return _Run(cell.target_acc, nan if cell.source_acc is None else cell.source_acc, cell.seconds or 0.0, card,
                    path, dict(cell.scores), cell.share, None, cell.guard, cell)

    def _failed(self, skey: str, method: str, seed: int, error: str, where: str) -> None:
        self.failures.append(f"{skey}/{method} seed {seed}: {error}")
        self.failed.setdefault(skey, {}).setdefault(method, []).append({"seed": seed, "error": error})
        self.log(f"{where}: FAILED {error}")

    def train_scenario(self, source: str, target: str, methods: list[str]) -> tuple[dict[str, dict[int, _Run]], str | None]:
        """Seed 0 of every method; the further seeds of every recommend candidate (of every method with
        ``all_seeds``); the pool-aware validators over the candidates' runs; the recommended method
        (label-free, :meth:`recommend`); then
        the methods that learn from a trained model (a distilled student), taught by the recommended
        method (or the adapted one the same rule picks when source-only is recommended), same seed;
        → (runs, teacher)."""

        runs: dict[str, dict[int, _Run]] = {m: {} for m in methods}
        students = [m for m in methods if _model_refs(m)]
        first, later = self.seeds[0], self.seeds[1:]
        for method in methods:
            if method not in students and (run := self.train(source, target, method, first)):
                runs[method][first] = run
        more = [m for m in methods if m not in students and (self.all_seeds or is_candidate(m))]
        for seed in later:
            for method in more:
                if run := self.train(source, target, method, seed):
                    runs[method][seed] = run
        self.score_pool(runs, source, target)
        recommended = self.recommend(runs)
        teacher = None
        if students:
            teacher = self.choose_teacher(runs, recommended)
            if teacher is None:
                for m in students:
                    self.failures.append(f"{scenario_key(source, target)}/{m}: no adapted teacher")
                self.log(f"      {scenario_key(source, target)}: {', '.join(students)} skipped, no adapted teacher")
                return runs, None
            self.log(f"      {scenario_key(source, target)}: teacher {teacher} (chosen by {self.validator}, no target labels)")
            for seed in sorted(runs[teacher]):
                for m in students:
                    refs = {name: str(runs[teacher][seed].checkpoint) for name in _model_refs(m)}
                    if run := self.train(source, target, m, seed, refs, teacher=teacher):
                        runs[m][seed] = run
        return runs, teacher

    def score_pool(self, runs: dict[str, dict[int, _Run]], source: str, target: str) -> None:
        """The pool-aware validators' scores of every candidate run of the scenario (all methods and
        seeds together form the pool the choice is made from), added to each run's scores, and each
        candidate run's top class on every unlabelled target picture (what its seeds' agreement is
        computed from). A stored cell's evidence is gathered again from its checkpoint."""
        pooled = [n for n in VALIDATORS if VALIDATORS[n].pool]
        pool = [r for m, by_seed in runs.items() if is_candidate(m) for r in by_seed.values()]
        for run in pool:
            if run.evidence is None:
                model, _ = checkpoints.load(run.checkpoint, device="cpu")
                run.evidence = gather_evidence(model, source, target)
            run.target_top = run.evidence.target_logits.argmax(1).tolist()
        if pool and pooled:
            for run, (scores, errors) in zip(pool, score_pool_all([r.evidence for r in pool], pooled)):
                run.scores.update({k: rounded(v, 6) for k, v in scores.items()})
                if errors:
                    self.log(f"      pool validators could not score a run: {errors}")
        for run in pool:
            run.evidence = None  # scored: the evidence is not needed any more

    def summaries(self, runs: dict[str, dict[int, _Run]]) -> dict[str, dict]:
        """Per method, what the label-free choice reads, in the leaderboard entries' shape:
        ``{"validator_scores": {validator: mean over seeds}, "largest_class_share": mean,
        "seed_agreement": its seeds' agreement or None}``."""
        return {m: _summary(r) for m, r in runs.items() if r}

    def recommend(self, runs: dict[str, dict[int, _Run]]) -> str | None:
        """:func:`_best_candidate` over the runs so far. No target label is read."""
        return _best_candidate(self.summaries(runs), self.validator)

    def choose_teacher(self, runs: dict[str, dict[int, _Run]], recommended: str | None) -> str | None:
        """The recommended method if it adapts, else the adapted candidate :func:`_best_candidate`
        picks (label-free either way)."""
        if recommended in METHODS and METHODS[recommended].is_adapted() and runs.get(recommended):
            return recommended
        return _best_candidate(self.summaries(runs), self.validator, adapted_only=True)

    # ---- shipping ----------------------------------------------------------------------------
    def ship(self, source: str, target: str, method: str, runs: dict[int, _Run], teacher: str | None,
             entry: dict) -> None:
        """Write seed 0 of ``method`` to out_dir/<source>-<target>/<method>/ (weights with the run's
        extra modules — a pixel-level GAN's generator —, card, map)."""
        run0, name = runs[0], make_name(source, target, method)
        model32, _, extras = checkpoints.load_with_extras(run0.checkpoint, device="cpu")  # a generator, say
        size = int(model32.input_size)
        tgt_test, src_test = load_domain(target, "test", size), load_domain(source, "test", size)
        scen_dir = self.out_dir / scenario_folder(source, target)
        staging = temp_sibling(scen_dir / method)
        try:
            # fp16 unless the saved fp16 checkpoint, re-evaluated, is > 0.5 points off fp32
            checkpoints.save(model32, run0.card, staging, half=True, extras=extras)
            model, _ = checkpoints.load(staging, device="cpu")
            acc = evaluate_accuracy(model, tgt_test)
            half = abs(acc - run0.target_acc) <= FP16_TOLERANCE
            if not half:
                model, acc16, acc = model32, acc, evaluate_accuracy(model32, tgt_test)
                self.log(f"      {name}: fp16 weights give {acc16:.2f}%, fp32 {acc:.2f}%; shipping fp32")
                if abs(acc - run0.target_acc) > FP16_TOLERANCE:
                    self.log(f"      warning: {name} re-evaluates to {acc:.2f}% on the CPU, "
                             f"{run0.target_acc:.2f}% on the training device")
            # tiny (CI) runs keep the training-time source accuracy: one evaluation less per model
            src_acc = run0.source_acc
            if not self.tiny and list(tgt_test.classes) == list(src_test.classes):
                src_acc = evaluate_accuracy(model, src_test)
            hyper = dict(run0.card.get("hyperparameters") or {})
            for ref in _model_refs(method):  # the teacher by zoo name, not a temporary path
                hyper[ref] = make_name(source, target, teacher)
            card = {
                **run0.card, "name": name, "hyperparameters": hyper,
                "metrics": {
                    "target_acc": round(acc, 4), "source_acc": rounded(src_acc),
                    "target_acc_train": rounded(run0.target_acc),
                    "target_acc_mean": entry["mean"], "target_acc_std": entry["std"],
                    "source_acc_mean": entry["source_mean"], "source_acc_std": entry["source_std"],
                    "n_seeds": len(entry["values"]),
                },
                "weights_dtype": "float16" if half else "float32",
                "params": sum(p.numel() for p in model.parameters()),
                "zoo": {"leaderboard": f"{LEADERBOARD_NAME}: scenarios / {scenario_key(source, target)} / {method}",
                        "seeds": entry["seeds"], "target_acc_values": entry["values"]},
            }
            checkpoints.save(model, card, staging, half=half, extras=extras)
            amap = compute_alignment(model, src_test, tgt_test, n_per_domain=self.n_points,
                                     method=self.embed, seed=0)
            with open(staging / ALIGNMENT_NAME, "wb") as f:
                np.savez_compressed(f, **amap.to_arrays())
                f.flush()
                os.fsync(f.fileno())
            swap_dir_in(staging, scen_dir / method, SHIPPED_FILES)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self.shipped.add(name)
        size = format_bytes((scen_dir / method / "model.safetensors").stat().st_size)
        self.log(f"      shipped {name:<34} target {acc:6.2f}% ({'fp16' if half else 'fp32'}, {size}; "
                 f"mean {entry['mean']:.2f} ± {entry['std']:.2f} over {len(entry['values'])} seed(s))")


def _mean_share(runs: dict[int, _Run] | None) -> float | None:
    vals = [r.share for r in (runs or {}).values() if r.share is not None]
    return statistics.fmean(vals) if vals else None


def _summary(runs: dict[int, _Run]) -> dict:
    """Mean validator scores and mean largest-class share over a method's seeds, and how often its
    seeds agree on the unlabelled target (:func:`core.selection.choice.seed_agreement`; None below
    two seeds) (entry shape)."""
    scores = mean_scores(r.scores for r in runs.values())
    tops = [runs[s].target_top for s in sorted(runs) if runs[s].target_top is not None]
    return {"validator_scores": scores, "largest_class_share": rounded(_mean_share(runs)),
            "seed_agreement": rounded(seed_agreement(tops), 6)}


def _best_candidate(entries: dict[str, dict], validator: str, adapted_only: bool = False,
                    agreement: bool = True) -> str | None:
    """:func:`core.selection.choice.choose_agreeing` over the scenario's candidate methods (their
    mean scores, mean largest-class shares and seed agreement over seeds): among the candidates
    whose seeds agree within :data:`~core.selection.choice.AGREEMENT_MARGIN` of the most agreeing
    one's, the best mean score (plain :func:`~core.selection.choice.choose` when a candidate has a
    single seed); ``entries``: method → {validator_scores, largest_class_share, seed_agreement}
    (leaderboard entries or :func:`_summary`); ``agreement=False``: the seeds' agreement is not read.
    Reads no target label."""
    pool = {m: {"scores": e.get("validator_scores") or {}, "largest_class_share": e.get("largest_class_share"),
                "seed_agreement": e.get("seed_agreement") if agreement else None}
            for m, e in entries.items() if is_candidate(m)}
    return choose_agreeing(pool, validator, eligible=(lambda m: METHODS[m].is_adapted()) if adapted_only else None)


def selection_blocks(runs: dict[str, dict[int, _Run]], validator: str, entries: dict[str, dict],
               previous: dict | None = None) -> dict:
    """The leaderboard's label-free selection blocks of one scenario: ``recommended``
    (:func:`_best_candidate`: the highest mean score of ``validator`` among the candidates whose
    seeds agree; ``agreement_margin`` None when no entry has seeds to compare), ``best_in_hindsight`` (by mean target test
    accuracy: for reference only) and ``selection`` (every candidate run's validator scores and target
    accuracy, Spearman's rho per validator). ``previous``: the scenario's old ``selection`` block,
    whose points of methods not retrained now are kept (a partial rebuild adds to the pool)."""
    points = [{"method": m, "seed": seed, "score": r.scores.get(validator), "target_acc": rounded(r.target_acc),
               "scores": dict(r.scores), "largest_class_share": r.share}
              for m, by_seed in runs.items() if is_candidate(m) for seed, r in sorted(by_seed.items()) if r.scores]
    points += [p for p in (previous or {}).get("points", []) if p.get("method") not in runs and p.get("method") in entries]
    recommended = _best_candidate(entries, validator)
    names = sorted({v for p in points for v in p["scores"]})
    rho = {v: spearman([p["scores"].get(v) for p in points], [p["target_acc"] for p in points]) for v in names}
    cands = {m: e for m, e in entries.items() if is_candidate(m) and e.get("mean") is not None}
    hindsight = max(cands, key=lambda m: cands[m]["mean"]) if cands else None
    base = entries.get(baseline()) or {}
    rec = None
    if recommended in entries:
        e = entries[recommended]
        rec = {"method": recommended, "validator": validator, "score": e.get("validator_scores", {}).get(validator),
               "seed_agreement": e.get("seed_agreement"),
               "agreement_margin": AGREEMENT_MARGIN if reads_agreement({m: x for m, x in entries.items() if is_candidate(m)})
               else None,
               "target_acc_mean": e.get("mean"), "target_acc_std": e.get("std"), "n_seeds": len(e.get("values", [])),
               "source_only_acc_mean": base.get("mean"), "source_only_acc_std": base.get("std"),
               "gain": rounded(e["mean"] - base["mean"]) if e.get("mean") is not None and base.get("mean") is not None
               else None}
    best_mean = cands[hindsight]["mean"] if hindsight else None
    gaps = {}
    for v in names:  # what following each validator alone, seeds unread, would have cost (reporting only)
        pick = _best_candidate(entries, v, agreement=False)
        if pick in cands and best_mean is not None:
            gaps[v] = {"method": pick, "target_acc_mean": cands[pick]["mean"],
                       "gap": rounded(best_mean - cands[pick]["mean"])}
    return {"recommended": rec,
            "best_in_hindsight": {"method": hindsight, "target_acc_mean": best_mean} if hindsight else None,
            "selection": {"validator": validator, "spearman": rho.get(validator), "spearman_by_validator": rho,
                          "gap_by_validator": gaps, "points": points}}


def _entry(runs: dict[int, _Run], seeds: list[int]) -> dict:
    """Leaderboard entry of one scenario × method: target mean/std/values over seeds, and more."""
    done = [s for s in seeds if s in runs]
    vals = [runs[s].target_acc for s in done]
    src = [runs[s].source_acc for s in done]
    sstats = mean_std(src)
    return {**mean_std(vals), "values": [rounded(v) for v in vals], "seeds": done,
            **_summary({s: runs[s] for s in done}),
            "source_mean": sstats["mean"], "source_std": sstats["std"],
            "source_values": [rounded(v) for v in src],
            "seconds_mean": rounded(statistics.fmean(runs[s].seconds for s in done), 2),
            "cells": [{"seed": s, "code_version": runs[s].cell.code_version, "built_at": runs[s].cell.built_at,
                       "build_seconds": runs[s].cell.build_seconds} for s in done if runs[s].cell is not None]}


def rebuild(tiny: bool = False, seeds: int | None = None, device: str = "auto", steps: int | None = None,
            out_dir=None, scenarios=None, methods=None, log: Callable[[str], Any] = print,
            all_seeds: bool = True, work_dir=None, resume: bool = False, train_new: bool | list[str] = True) -> int:
    """Train the zoo and write it to ``out_dir`` (default: :func:`zoo_dir`); return an exit code.

    For each scenario every method the registry marks ``in_zoo`` and every recommend candidate is
    trained with its recipe (``steps``: default ``recipes.ZOO_STEPS``, else each recipe's own) on
    seed 0, the candidates on the further seeds of ``range(seeds)`` too (default 3; every method with
    ``all_seeds``; see the module docstring); then the methods that learn from a trained model (a
    distilled student) from the recommended method's same-seed checkpoint (:meth:`_Builder.choose_teacher`). Only seed 0 is shipped: fp16 weights (fp32 if
    fp16 costs more than 0.5 points), a card whose ``target_acc`` was re-evaluated on the shipped
    weights (plus mean/std over seeds) and a precomputed alignment map (UMAP of 500 + 500 test
    images). ``leaderboard.json`` is rewritten after every scenario (atomically), so cards and
    leaderboard agree even if a run stops half way.

    Every run is a *cell* stored in ``work_dir`` the moment it finishes (:mod:`core.studies.zoo_cells`;
    default: ``.<out_dir name>-cells`` beside ``out_dir``, a temporary folder with ``tiny``).
    ``resume``: reuse the cells a stopped build stored there (a stale or corrupt one is trained
    again, and the log says why). ``train_new=False`` (with ``resume``): train nothing, ship what
    the stored cells hold — a partial build as a consistent leaderboard, the rest listed as not built;
    a list of methods: train only those methods' missing cells (say, the distilled students, which
    need the recommended teacher of the whole pool).

    ``scenarios`` (pairs or ``"S->T"`` strings) / ``methods`` restrict the run; the rest of the
    zoo and leaderboard is kept. A full run removes shipped models it did not build.

    ``tiny``: 3 steps (unless ``steps``), 1 seed (unless ``seeds``), PCA maps of 60 + 60 points,
    training-time source accuracy in the cards, into ``out_dir`` or a new temporary folder —
    never the shipped zoo. Returns 0, or 1 if a run failed or the zoo exceeds 30 MiB.
    """
    if train_new is not True and not resume:
        raise ValueError("--no-train and --train ship stored cells: they need --resume")
    if isinstance(train_new, (list, tuple, set)):
        normalise_methods(list(train_new))  # an unknown name lists the valid ones, before any work
    t_start = time.perf_counter()
    plan, device_label = _plan(tiny, seeds, steps, out_dir, scenarios, methods, all_seeds), _device_label(device)
    log(f"zoo rebuild{' (tiny)' if tiny else ''}: {len(plan.scenarios)} scenario(s) × {len(plan.methods)} method(s) × "
        f"{len(plan.seeds)} seed(s) = {plan.n_runs} runs on {device_label}, steps {plan.steps or 'per recipe'} "
        f"→ {plan.out_dir}")
    board = _open_board(plan, device_label, log)
    clean_dead_workdirs(Path(tempfile.gettempdir()), WORK_PREFIX)  # left by killed rebuilds
    with _work_folder(plan, work_dir) as work:
        log(f"cells: {work} (shared code version {code_version()}{'; resuming' if resume else ''})")
        b = _Builder(out_dir=plan.out_dir, work=work, seeds=plan.seeds, device=device, steps=plan.steps,
                     tiny=tiny, n_runs=plan.n_runs, log=log, all_seeds=all_seeds, resume=resume, train_new=train_new)
        b.validator = default_validator(sum(map(is_candidate, plan.methods)))  # EnsV needs its pool
        for source, target in plan.scenarios:
            _build_scenario(b, plan, board, source, target)
            board["seconds_total"] = round(time.perf_counter() - t_start, 1)
            write_json_atomic(plan.board_path, board)
    if not plan.partial:  # a full rebuild: the zoo is exactly what was built
        _drop_unbuilt(board, plan, b.shipped, log)
    board["seconds_total"] = round(time.perf_counter() - t_start, 1)
    board["build"] = _build_record(board, plan, b)
    record_not_built(board, NOT_TRAINED_WHY if b.missing or b.busy else None)  # what a full rebuild would train and this zoo lacks, said
    write_json_atomic(plan.board_path, board)
    return _report(b, plan.out_dir, t_start, log)


NOT_TRAINED_WHY = ("the build was stopped before these cells were trained; `python -m core zoo rebuild --resume` "
                   "trains them")


@contextlib.contextmanager
def _work_folder(plan: "_Plan", work_dir):
    """The cells' folder: ``work_dir``; else a temporary one for a tiny build, else
    ``.<out_dir name>-cells`` beside ``out_dir`` (kept, so that ``--resume`` finds it)."""
    if work_dir is None and plan.tiny:
        with tempfile.TemporaryDirectory(prefix=f"{WORK_PREFIX}{os.getpid()}-") as work:
            yield Path(work)
        return
    work = Path(work_dir) if work_dir is not None else default_work_dir(plan.out_dir)
    work.mkdir(parents=True, exist_ok=True)
    yield work


def default_work_dir(out_dir) -> Path:
    out_dir = Path(out_dir).resolve()
    return out_dir.parent / f".{out_dir.name}-cells"


def _build_record(board: dict, plan: "_Plan", b: "_Builder") -> dict:
    """The leaderboard's ``build`` block: code versions of the shipped cells, the cells that failed
    (with their errors, never a number) and the ones not built."""
    versions = sorted({c["code_version"] for entries in board.get("scenarios", {}).values()
                       for e in entries.values() for c in e.get("cells", [])})
    failed = dict((board.get("build") or {}).get("failed") or {}) if plan.partial else {}
    for s, t in plan.scenarios:
        failed.pop(scenario_key(s, t), None)
    failed.update(b.failed)
    return {"code_versions": versions, "failed": failed, "not_trained": list(b.missing) + list(b.busy),
            "cell_seconds_total": cell_seconds(board)}


def cell_seconds(board: dict) -> float:
    """The CPU-clock time the shipped entries' cells took to build (training and scoring), summed:
    what the leaderboard cost, however many builds, resumes and processes made it."""
    return round(sum(c.get("build_seconds") or 0.0 for entries in board.get("scenarios", {}).values()
                     for e in entries.values() for c in e.get("cells", [])), 1)


@dataclass
class _Plan:
    """What one :func:`rebuild` trains and where it writes."""

    scenarios: list[tuple[str, str]]
    methods: list[str]
    seeds: list[int]
    steps: int | None
    out_dir: Path
    partial: bool
    n_runs: int
    tiny: bool

    @property
    def board_path(self) -> Path:
        return self.out_dir / LEADERBOARD_NAME


def _plan(tiny: bool, seeds: int | None, steps: int | None, out_dir, scenarios, methods, all_seeds: bool) -> _Plan:
    """Check :func:`rebuild`'s arguments and resolve its defaults (see its docstring)."""
    seeds = (1 if tiny else 3) if seeds is None else int(seeds)
    if seeds < 1:
        raise ValueError(f"seeds must be at least 1, got {seeds}")
    scen_list, meth_list = normalise_scenarios(scenarios), normalise_methods(methods)
    adapted = [m for m in display_order() if METHODS[m].is_adapted()]  # any of them can teach, in_zoo or not
    if any(_model_refs(m) for m in meth_list) and not set(meth_list) & set(adapted):
        raise ValueError("a distilled student needs an adapted teacher trained in the same rebuild; add one of "
                         f"{', '.join(adapted)} to the methods")
    if tiny:
        steps = steps or 3
        out_dir = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="shiftlab-zoo-tiny-"))
    else:
        steps = steps or recipes.ZOO_STEPS  # the zoo trains longer than a CLI run
        out_dir = Path(out_dir) if out_dir is not None else zoo_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    per_seed = [m for m in meth_list if all_seeds or is_candidate(m) or _model_refs(m)]
    n_runs = len(scen_list) * (len(meth_list) + len(per_seed) * (seeds - 1))
    return _Plan(scen_list, meth_list, list(range(seeds)), steps, out_dir,
                 partial=scenarios is not None or methods is not None, n_runs=n_runs, tiny=bool(tiny))


def _open_board(plan: _Plan, device_label: str, log: Callable[[str], Any]) -> dict:
    """The leaderboard to fill: the existing one, so that it agrees with the shipped cards after every
    scenario even if the run stops half way (a full rebuild drops what it did not build at the end)."""
    board: dict = {}
    if plan.board_path.is_file():
        try:
            board = json.loads(plan.board_path.read_text(encoding="utf-8"))
        except ValueError:
            log(f"warning: {plan.board_path} is unreadable; starting a new leaderboard")
    if not isinstance(board, dict) or not isinstance(board.get("scenarios"), dict):
        board = {}
    board.setdefault("scenarios", {})
    board["settings"] = dict(board.get("settings") or {}) if plan.partial else {}
    board.update(seeds=plan.seeds, device=device_label, steps=plan.steps, tiny=plan.tiny,
                 published=PUBLISHED, published_note=PUBLISHED_NOTE)
    for method in plan.methods:
        board["settings"][method] = _settings(method, *plan.scenarios[0], plan.steps)
    return board


def _build_scenario(b: _Builder, plan: _Plan, board: dict, source: str, target: str) -> None:
    """Train one scenario's runs, ship each method's seed 0 and write its leaderboard entries and
    label-free selection blocks into ``board``."""
    skey = scenario_key(source, target)
    runs, teacher = b.train_scenario(source, target, plan.methods)
    scen_dir = plan.out_dir / scenario_folder(source, target)
    scen_dir.mkdir(parents=True, exist_ok=True)
    _recover(scen_dir)
    entries_now = dict(board["scenarios"].get(skey) or {}) if plan.partial else {}
    for method in plan.methods:
        if 0 not in runs[method]:
            entries_now.pop(method, None)
            continue
        entry = _entry(runs[method], plan.seeds)
        if _model_refs(method):
            entry["teacher"] = teacher
        fields = _settings(method, source, target, plan.steps)
        if fields != board["settings"].get(method):
            entry["settings"] = fields  # a scenario-specific recipe
        b.ship(source, target, method, runs[method], teacher, entry)
        entries_now[method] = entry
    board["scenarios"][skey] = entries_now
    chosen = selection_blocks(runs, b.validator, entries_now, (board.get("selection") or {}).get(skey))
    for key, block in chosen.items():
        board.setdefault(key, {})[skey] = block
    board["validator"] = b.validator
    if chosen["recommended"]:
        rec = chosen["recommended"]
        b.log(f"      {skey}: recommended {rec['method']} (by {b.validator}, no target labels): "
              f"{rec['target_acc_mean']} vs source-only {rec['source_only_acc_mean']}; best in hindsight "
              f"{(chosen['best_in_hindsight'] or {}).get('method')}; Spearman {chosen['selection']['spearman']}")
    board["generated"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _drop_unbuilt(board: dict, plan: _Plan, shipped: set[str], log: Callable[[str], Any]) -> None:
    """After a full rebuild: the leaderboard and the zoo folder hold exactly what was built."""
    keep = {scenario_key(s, t) for s, t in plan.scenarios}
    for key in ("scenarios", "recommended", "best_in_hindsight", "selection"):
        board[key] = {k: v for k, v in (board.get(key) or {}).items() if k in keep}
    for name, folder in scan_models(plan.out_dir).items():
        if name not in shipped and owned_dir(folder, SHIPPED_FILES):
            shutil.rmtree(folder)
            log(f"      removed stale {name}")
            with contextlib.suppress(OSError):
                folder.parent.rmdir()


def _report(b: _Builder, out_dir: Path, t_start: float, log: Callable[[str], Any]) -> int:
    """Log the zoo's size and the failed runs; the exit code (1 when a run failed or the zoo is over
    :data:`MAX_TOTAL_BYTES`)."""
    total = _dir_bytes(out_dir)
    log(f"zoo rebuilt: {len(b.shipped)} model(s), {format_bytes(total)} in {out_dir}, "
        f"{time.perf_counter() - t_start:.1f} s total")
    code = 0
    if total > MAX_TOTAL_BYTES:
        log(f"error: the zoo is {format_bytes(total)}, over the {format_bytes(MAX_TOTAL_BYTES, trim=True)} limit")
        code = 1
    if b.failures:
        log(f"error: {len(b.failures)} run(s) failed:\n  " + "\n  ".join(b.failures))
        code = 1
    return code
