"""The Train page's demo run: the model the leaderboard recommends, in a recipe short enough to watch.

    >>> from core.training.demo import demo_for
    >>> demo = demo_for("mnist", "mnistm")                   # doctest: +SKIP
    >>> demo.method, demo.steps, demo.warm_start is not None  # doctest: +SKIP
    ('self_ensembling', 150, True)
    >>> config = demo.config(seed=0, device="cpu")            # a TrainConfig, ready to train  # doctest: +SKIP

**Which method.** The leaderboard's ``recommended[scenario]`` (``pretrained/leaderboard.json``,
chosen without target labels by the zoo's validator). A scenario the leaderboard does not
recommend for (your own pictures) gets the method it recommends most often; no leaderboard at all,
the first unsupervised method (:func:`core.methods.default_method`).

**Two tiers.** The scenario the app opens on gets a *quick* recipe (about 10 s from the click:
the first run a visitor meets); every other scenario a *fuller* one (about 30 s), where a fuller
recipe was measured from the scenario's source, else the quick one (:func:`tier`).

**Which recipe.** The method's entry in the zoo's ``demo.json`` (:data:`RECIPES_NAME`, shipped
beside the leaderboard: ``steps``, ``batch_size``, ``lr``, ``warm_start`` and method ``hparams``),
over its usual :func:`recipe`. ``warm_start`` starts the backbone from the shipped source-only model
of the scenario's source (its head is trained afresh). Each entry was chosen by :data:`RULE` on the
unseen fixture domains (``python -m core fixtures``; ``scripts/bench/demo_recipe_study.py --ship``
writes it, with the measurements in docs/benchmarks/), never on the shipped scenarios' target
labels. When the recommended method has none (no recipe of it fits the budget and gains), the demo
trains the method with a recipe that the leaderboard's validator scores highest on the scenario,
or, on a scenario it has no scores for, the one whose recipe gained most on the fixture domains
(:func:`watchable_method`); with no ``demo.json`` at all, the recommended method trains its
``app_steps`` with its usual recipe.

**What it is compared with.** :func:`reference`: the scenario's shipped source-only model and the
zoo's recommended model (its shipped seed and the mean over seeds).

When the shipped source-only model or the demo recipes are missing (an empty or partial
``pretrained/``), the demo trains from scratch with the method's usual settings and
:attr:`Demo.note` says so in one line.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .config import TrainConfig
from .recipes import recipe

RECIPES_NAME = "demo.json"
#: CPU seconds one demo run (training, data and its evaluations, one torch thread, as the recipe study
#: measures it on a fixture pair) may take: the 10 s from the click less what the app adds to such a
#: run — 2.3 and 3.4 s, measured for the same recipe at 200 and 150 steps as the study's CPU seconds
#: against the real app's click-to-result median (docs/benchmarks/demo-path.json, ``ab_steps_150_vs_200``).
BUDGET_S = 7.0
#: The same for a **fuller** demo run, the one of every scenario but the one the app opens on
#: (:func:`tier`): half a minute from the click less the same 3 s. A visitor who has picked another
#: scenario is already looking further; a run under half a minute can still be watched live.
FULLER_BUDGET_S = 27.0
#: Seconds from the click each tier's recipes aim at (what the page tells the user).
ABOUT_S = {"quick": 10, "fuller": 30}
#: Two candidates whose mean gains differ by less than this many points are as good as each other.
TIE_PTS = 1.0
#: A method's demo recipe must gain at least this share of another's measured from the same source.
OUTCLASSED_SHARE = 0.5

RULE = ("Among the candidate recipes whose median CPU seconds per run (one torch thread) fit the budget, "
        "the one with the highest mean gain over the shipped source-only model across the fixture pairs; "
        f"a candidate within {TIE_PTS:g} point of it that costs less wins. A method none of whose fitting "
        "candidates gains on average gets no demo recipe (the demo then trains a method that has one); nor "
        f"does one whose chosen recipe gains less than {OUTCLASSED_SHARE:g} of what another method's recipe, "
        "measured from the same source on the same fixtures, gains (that method, trained instead, shows the "
        "adaptation more than twice as strongly within the same budget). Each tier (quick, fuller) applies the "
        "rule with its own budget and candidates, the fuller tier per source.")


def tier(source: str, target: str) -> str:
    """``"quick"`` for the scenario the app opens on (the zoo's first, :func:`core.zoo.scenarios`:
    the run a visitor meets first, within :data:`BUDGET_S`), ``"fuller"`` for every other one, your
    own pictures included (within :data:`FULLER_BUDGET_S`).

    >>> tier("mnist", "mnistm"), tier("syndigits", "mnist")
    ('quick', 'fuller')
    """
    from ..data import scenario_key
    from ..zoo import scenarios

    first = scenarios()[0]
    return "quick" if scenario_key(source, target) == scenario_key(*first) else "fuller"


def budget(which: str) -> float:
    """The CPU-second budget of a tier's recipes (``"quick"`` or ``"fuller"``)."""
    return {"quick": BUDGET_S, "fuller": FULLER_BUDGET_S}[which]


def fixture_pairs(source: str, n_domains: int) -> str:
    """How ``demo.json`` names the pairs a recipe was measured on: ``"mnist -> 6 fixture domains"``."""
    return f"{source} -> {n_domains} fixture domains"


def outclassed(chosen: dict, source: str, recipes: dict, method: str = "", n_domains: int = 6) -> str | None:
    """Why ``chosen`` (the candidate :data:`RULE` picked for ``method`` from ``source`` on
    ``n_domains`` fixture domains) gets no demo recipe after all — another method's entry in
    ``recipes`` (``demo.json``'s) measured on the same pairs (its ``fixture_pairs`` is
    :func:`fixture_pairs` of the same source and count) gained more than 1 / :data:`OUTCLASSED_SHARE`
    times as much — or None when it stands. It weighs the recipes shipped so far: a recipe shipped
    earlier is not re-weighed when a stronger one is shipped later (run the weaker method's study again).

    >>> outclassed({"mean_gain": 6.7}, "mnist", {"self_ensembling": {"fixture_mean_gain": 32.4,
    ...            "fixture_pairs": "mnist -> 6 fixture domains"}}, "adamatch")
    "its recipe gains +6.7 points on the fixtures, less than 0.5 of self_ensembling's +32.4 from the same source"
    >>> outclassed({"mean_gain": 20.0}, "mnist", {"self_ensembling": {"fixture_mean_gain": 32.4,
    ...            "fixture_pairs": "mnist -> 6 fixture domains"}}) is None
    True
    """
    for other, entry in sorted(recipes.items()):
        if other == method or entry.get("fixture_pairs") != fixture_pairs(source, n_domains):
            continue
        gain = entry.get("fixture_mean_gain")
        if isinstance(gain, (int, float)) and chosen["mean_gain"] < OUTCLASSED_SHARE * gain:
            return (f"its recipe gains {chosen['mean_gain']:+.1f} points on the fixtures, less than "
                    f"{OUTCLASSED_SHARE:g} of {other}'s {gain:+.1f} from the same source")
    return None


def choose(candidates: list[dict], budget_s: float = BUDGET_S) -> dict | None:
    """The candidate :data:`RULE` picks from ``candidates`` (dicts with ``mean_gain`` and
    ``median_cpu_s``), or None when none fits ``budget_s`` or none that fits gains on average.

    >>> choose([{"mean_gain": 30, "median_cpu_s": 9}, {"mean_gain": 20, "median_cpu_s": 7},
    ...         {"mean_gain": 19.5, "median_cpu_s": 4}])
    {'mean_gain': 19.5, 'median_cpu_s': 4}
    """
    fitting = [c for c in candidates if c["median_cpu_s"] <= budget_s and c["mean_gain"] > 0]
    if not fitting:
        return None
    best = max(c["mean_gain"] for c in fitting)
    near = [c for c in fitting if c["mean_gain"] >= best - TIE_PTS]
    return min(near, key=lambda c: (c["median_cpu_s"], -c["mean_gain"]))


def eval_every(steps: int) -> int:
    """Steps between the live curve's evaluations: about 4 in a short run, 12 in a long one (each
    costs a pass over the target test split)."""
    return max(10, steps // (4 if steps <= 300 else 12))


@dataclass
class Demo:
    """The demo run of a scenario: ``method`` and its recipe (``steps``, ``batch_size``, ``lr``,
    ``hparams``), ``warm_start`` (the shipped source-only model's folder, or None), ``why`` (one
    line: why this method), ``note`` (one line when something shipped is missing, else None)."""

    source: str
    target: str
    method: str
    steps: int
    batch_size: int
    lr: float
    hparams: dict = field(default_factory=dict)
    warm_start: str | None = None
    wants_warm_start: bool = False
    why: str = ""
    note: str | None = None
    tier: str = "quick"

    @property
    def about_s(self) -> int:
        """Seconds from the click its recipe aims at on one CPU core (:data:`ABOUT_S`)."""
        return ABOUT_S[self.tier]

    def config(self, warm_start: bool = True, **overrides) -> TrainConfig:
        """The run's :class:`TrainConfig` (``overrides`` win); ``warm_start=False`` trains from scratch."""
        steps = overrides.pop("steps", self.steps)
        spec = {"steps": steps, "batch_size": self.batch_size, "lr": self.lr, "eval_every": eval_every(steps),
                "pretrained": self.warm_start if warm_start else None, **overrides}
        spec["hparams"] = {**self.hparams, **overrides.get("hparams", {})}
        return recipe(self.method, self.source, self.target, **spec)


def recipes_path() -> Path:
    """Where the demo recipes are shipped: ``demo.json`` in the zoo folder."""
    from ..zoo import zoo_dir

    return zoo_dir() / RECIPES_NAME


def _entries(recipes) -> dict:
    return {k: v for k, v in recipes.items() if isinstance(v, dict)} if isinstance(recipes, dict) else {}


def shipped_recipes(source: str | None = None, which: str = "quick") -> dict | None:
    """method → its demo recipe, from :func:`recipes_path`; None when the file is missing or unreadable.

    ``demo.json`` holds the quick tier's recipes under ``recipes`` (method → recipe) and the fuller
    tier's under ``fuller.recipes`` (source → method → recipe: each was measured from that source).
    ``which="fuller"`` gives the quick recipes with the fuller ones of ``source`` over them — a quick
    recipe fits the fuller budget too — so a method or a source the fuller study did not cover keeps
    its quick recipe."""
    try:
        data = json.loads(recipes_path().read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("recipes"), dict):
        return None
    recipes = _entries(data["recipes"])
    if which == "fuller":
        fuller = (data.get("fuller") or {}).get("recipes") if isinstance(data.get("fuller"), dict) else None
        recipes.update(_entries((fuller or {}).get(source) if isinstance(fuller, dict) else None))
    return recipes


def _board(board: dict | None) -> dict:
    if board is not None:
        return board
    from ..zoo import ZooError, leaderboard

    try:
        return leaderboard()
    except ZooError:
        return {}


def recommended_method(source: str, target: str, board: dict | None = None) -> tuple[str, str]:
    """(method, why): the leaderboard's label-free recommendation for the scenario, else the one
    it recommends most often, else the first unsupervised method."""
    from ..data import scenario_key
    from ..methods import METHODS, default_method

    recommended = (_board(board).get("recommended") or {})
    entry = recommended.get(scenario_key(source, target)) or {}
    if entry.get("method") in METHODS:
        return entry["method"], "the leaderboard's recommendation for this scenario, chosen without target labels"
    counts = Counter(e.get("method") for e in recommended.values() if isinstance(e, dict) and e.get("method") in METHODS)
    if counts:
        return counts.most_common(1)[0][0], ("the leaderboard recommends nothing for this scenario; "
                                             "this is the method it recommends most often")
    return default_method(), "no leaderboard to recommend a method; the first unsupervised method"


def watchable_method(source: str, target: str, recommended: str, recipes: dict, board: dict) -> tuple[str, str] | None:
    """When the recommended method has no demo recipe (a run too slow to watch in seconds), the
    method with one that the leaderboard's validator scores highest on this scenario (mean over
    seeds; no target labels), with why. A scenario the leaderboard has no scores for (your own
    pictures) gets the method whose recipe gained most on the fixture domains (``fixture_mean_gain``
    in ``demo.json``; among the recipes measured from the scenario's source where there are any).
    None when neither is known."""
    from ..data import scenario_key
    from ..methods import METHODS

    validator = board.get("validator")
    entries = (board.get("scenarios") or {}).get(scenario_key(source, target)) or {}
    scored = {m: (entries[m].get("validator_scores") or {}).get(validator) for m in recipes if m in entries and m in METHODS}
    scored = {m: v for m, v in scored.items() if v is not None}
    label = METHODS[recommended].label or recommended
    if scored:
        from ..validators import VALIDATORS

        best = max(scored, key=scored.get)
        judge = getattr(VALIDATORS.get(validator), "label", None) or validator
        return best, (f"the method with a demo recipe that the label-free validator {judge} scores highest on this "
                      f"scenario (no target labels); the leaderboard recommends {label}, which has no demo recipe "
                      "that gains within these seconds")
    gains = {m: r.get("fixture_mean_gain") for m, r in recipes.items() if m in METHODS}
    gains = {m: float(g) for m, g in gains.items() if isinstance(g, (int, float))}
    own = {m: g for m, g in gains.items() if str(recipes[m].get("fixture_pairs", "")).startswith(f"{source} -> ")}
    gains = own or gains  # gains measured from this scenario's source, where there are any, weigh like with like
    if not gains:
        return None
    best = max(gains, key=gains.get)
    return best, (f"the method whose demo recipe gained most on the unseen fixture domains ({gains[best]:+.1f} "
                  f"points on average); the leaderboard has no scores for this scenario, and {label}, the method "
                  "it recommends most often, has no demo recipe that gains within these seconds")


def shipped_source_only(source: str, target: str) -> str | None:
    """The folder of the shipped source-only model of ``source`` (the scenario's own first, else any
    shipped scenario's with the same source: source-only training never sees the target), or None."""
    from ..methods import baseline
    from ..zoo import make_name, parse_name
    from ..zoo.index import scan_models

    models = scan_models()
    own = make_name(source, target, baseline())
    if own in models:
        return str(models[own])
    same = sorted(n for n in models if parse_name(n)[0] == source and parse_name(n)[2] == baseline())
    return str(models[same[0]]) if same else None


def demo_for(source: str, target: str, board: dict | None = None) -> Demo:
    """The demo run of ``source → target`` (see the module docstring)."""
    from ..data import input_kind
    from ..methods import METHODS
    from ..zoo import zoo_dir

    board = _board(board)  # read once: the recommendation and, maybe, the watchable method both use it
    method, why = recommended_method(source, target, board)
    which = tier(source, target)
    recipes = shipped_recipes(source, which)
    if recipes and method not in recipes:
        method, why = watchable_method(source, target, method, recipes, board) or (method, why)
    cls = METHODS[method]
    spec = dict((recipes or {}).get(method) or {})
    base = recipe(method, source, target)
    pictures = input_kind(source) == "pictures" and base.arch == "digits_cnn"
    wants = bool(spec.get("warm_start")) and pictures
    demo = Demo(source, target, method, steps=int(spec.get("steps", cls.app_steps)),
                batch_size=int(spec.get("batch_size", base.batch_size)), lr=float(spec.get("lr", base.lr)),
                hparams=dict(spec.get("hparams", {})), wants_warm_start=wants, why=why, tier=which)
    if recipes is None:
        demo.note = (f"No demo recipe in {recipes_path()}: the page trains {cls.label or method} from scratch "
                     f"with its usual settings ({demo.steps:,} steps).")
    elif wants:
        demo.warm_start = shipped_source_only(source, target)
        if demo.warm_start is None:
            demo.note = (f"No shipped source-only model of {source} in {zoo_dir()} to warm-start from: "
                         "the demo trains from scratch (slower; `python -m core zoo rebuild` ships one).")
    return demo


def reference(source: str, target: str, board: dict | None = None) -> dict:
    """What a demo run is compared with: ``source_only`` (the shipped model's target accuracy, or
    None), ``recommended`` (method, ``shipped`` seed's accuracy or None, its ``steps``, ``mean``, ``std``,
    ``n_seeds``, ``source_only_mean``, ``gain``), or None when the leaderboard recommends nothing here."""
    from ..data import scenario_key
    from ..methods import baseline
    from ..zoo import ZooError, card, make_name

    def shipped(method: str) -> dict:
        try:
            return card(make_name(source, target, method))
        except (ZooError, OSError, ValueError):
            return {}

    def shipped_acc(method: str) -> float | None:
        value = (shipped(method).get("metrics") or {}).get("target_acc")
        return float(value) if isinstance(value, (int, float)) else None

    entry = (_board(board).get("recommended") or {}).get(scenario_key(source, target))
    rec = None
    if isinstance(entry, dict) and entry.get("method"):
        steps = (shipped(entry["method"]).get("hyperparameters") or {}).get("steps")
        rec = {"method": entry["method"], "shipped": shipped_acc(entry["method"]), "steps": steps,
               "mean": entry.get("target_acc_mean"), "std": entry.get("target_acc_std"),
               "n_seeds": entry.get("n_seeds"), "source_only_mean": entry.get("source_only_acc_mean"),
               "gain": entry.get("gain")}
    return {"source_only": shipped_acc(baseline()), "recommended": rec}
