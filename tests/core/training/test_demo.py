"""The Train page's demo run (core.training.demo): which method, which recipe, the warm start from the
shipped source-only model, and what happens when the zoo is empty or partial."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from core.training import demo as demo_mod
from core.training.demo import choose, demo_for, eval_every, reference


def _zoo(tmp_path, tiny_zoo, recommended="dann", recipes=None, drop=(), fuller=None):
    """A copy of the tiny zoo whose leaderboard recommends ``recommended`` and ships ``recipes``
    (and the fuller tier's ``fuller``: source → method → recipe)."""
    zoo = tmp_path / "zoo"
    shutil.copytree(tiny_zoo, zoo)
    board = json.loads((zoo / "leaderboard.json").read_text())
    board["recommended"] = {"mnist->mnistm": {"method": recommended, "target_acc_mean": 50.0, "target_acc_std": 1.0,
                                              "n_seeds": 3, "source_only_acc_mean": 40.0, "gain": 10.0}}
    (zoo / "leaderboard.json").write_text(json.dumps(board))
    if recipes is not None:
        spec = {"recipes": recipes, **({"fuller": {"recipes": fuller}} if fuller else {})}
        (zoo / demo_mod.RECIPES_NAME).write_text(json.dumps(spec))
    for name in drop:
        shutil.rmtree(zoo / "mnist-mnistm" / name)
    return zoo


@pytest.fixture
def zoo_env(monkeypatch):
    def point(path):
        monkeypatch.setenv("SHIFTLAB_ZOO_DIR", str(path))
        return path
    return point


DANN_DEMO = {"dann": {"steps": 20, "batch_size": 16, "lr": 0.003, "warm_start": True, "hparams": {"domain_weight": 0.5}}}


def test_the_rule_prefers_the_best_gain_that_fits_and_the_cheaper_of_near_ties():
    over = {"mean_gain": 40.0, "median_cpu_s": demo_mod.BUDGET_S + 4}
    best = {"mean_gain": 30.0, "median_cpu_s": demo_mod.BUDGET_S - 0.5}
    near = {"mean_gain": 29.4, "median_cpu_s": 5.0}
    worse = {"mean_gain": 20.0, "median_cpu_s": 2.0}
    assert choose([over, best, worse]) is best          # over the budget never counts
    assert choose([over, best, near, worse]) is near    # within TIE_PTS and cheaper
    assert choose([over]) is None
    assert choose([over], budget_s=20) is over
    # a method that only loses on the fixtures gets no recipe, whatever fits
    assert choose([{"mean_gain": -1.6, "median_cpu_s": 5.0}, {"mean_gain": 0.0, "median_cpu_s": 2.0}]) is None
    gains = {"mean_gain": 0.8, "median_cpu_s": 5.0}
    assert choose([gains, {"mean_gain": -0.1, "median_cpu_s": 2.0}]) is gains  # a cheaper loser never wins a tie


def test_a_recipe_outclassed_by_another_methods_from_the_same_source_is_not_shipped():
    from core.training.demo import OUTCLASSED_SHARE, outclassed

    recipes = {"self_ensembling": {"fixture_mean_gain": 32.4, "fixture_pairs": "mnist -> 6 fixture domains"},
               "self_training": {"fixture_mean_gain": 19.7, "fixture_pairs": "syndigits -> 6 fixture domains"}}
    weak = {"mean_gain": 32.4 * OUTCLASSED_SHARE - 0.1}
    why = outclassed(weak, "mnist", recipes, "adamatch")
    assert why and "self_ensembling" in why and "+32.4" in why
    assert outclassed({"mean_gain": 32.4 * OUTCLASSED_SHARE + 0.1}, "mnist", recipes, "adamatch") is None
    assert outclassed(weak, "syndigits", recipes, "adamatch") is None        # another source's recipe does not count
    assert outclassed(weak, "mnist", recipes, "self_ensembling") is None     # nor the method's own earlier recipe
    assert outclassed(weak, "mnist", {}, "adamatch") is None
    assert outclassed(weak, "mnist", recipes, "adamatch", n_domains=2) is None  # measured on other pairs


def test_eval_every_keeps_short_runs_to_a_few_evaluations():
    assert eval_every(100) == 25 and eval_every(40) == 10 and eval_every(1200) == 100


def test_the_demo_is_the_recommended_method_in_its_shipped_recipe(tmp_path, tiny_zoo, zoo_env):
    zoo = zoo_env(_zoo(tmp_path, tiny_zoo, "dann", DANN_DEMO))
    demo = demo_for("mnist", "mnistm")
    assert (demo.method, demo.steps, demo.batch_size, demo.lr) == ("dann", 20, 16, 0.003)
    assert demo.warm_start == str(zoo / "mnist-mnistm" / "source_only") and demo.note is None
    assert "recommendation" in demo.why
    config = demo.config(seed=3, device="cpu")
    assert (config.method, config.steps, config.batch_size, config.lr, config.seed) == ("dann", 20, 16, 0.003, 3)
    assert config.pretrained == demo.warm_start and config.hparams == {"domain_weight": 0.5}
    assert config.eval_every == eval_every(20)
    # the user's settings win, and the warm start can be turned off
    mine = demo.config(warm_start=False, steps=200, lr=1e-3, hparams={"domain_weight": 1.0})
    assert (mine.steps, mine.lr, mine.pretrained, mine.hparams["domain_weight"]) == (200, 1e-3, None, 1.0)
    assert mine.eval_every == eval_every(200)


def test_a_scenario_without_its_own_source_only_warm_starts_from_the_same_source(tmp_path, tiny_zoo, zoo_env):
    zoo = zoo_env(_zoo(tmp_path, tiny_zoo, "dann", DANN_DEMO))
    demo = demo_for("mnist", "ucidigits")  # nothing recommended there: the most recommended method
    assert demo.method == "dann" and "most often" in demo.why
    assert demo.warm_start == str(zoo / "mnist-mnistm" / "source_only")
    assert demo_for("syndigits", "mnist").warm_start is None  # no shipped model of that source
    assert "from scratch" in demo_for("syndigits", "mnist").note


def test_the_warm_start_trains_from_the_shipped_source_only_backbone(tmp_path, tiny_zoo, zoo_env):
    from core.checkpoints import load
    from core.training.engine import train
    from core.training.plan import prepare_run

    zoo_env(_zoo(tmp_path, tiny_zoo, "dann", DANN_DEMO))
    demo = demo_for("mnist", "mnistm")
    plan = prepare_run(demo.config(steps=2, seed=0, device="cpu"))
    shipped, _ = load(demo.warm_start)
    assert plan.backbone_state, "the warm start read no weights"
    for name, tensor in plan.backbone_state.items():
        assert torch.equal(tensor.float(), shipped.backbone.state_dict()[name].float()), name
    result = train(plan)
    assert result.steps_done == 2 and result.card["hyperparameters"]["pretrained"] == demo.warm_start


def test_a_partial_zoo_says_so_in_one_line_and_trains_from_scratch(tmp_path, tiny_zoo, zoo_env):
    zoo_env(_zoo(tmp_path, tiny_zoo, "dann", DANN_DEMO, drop=("source_only",)))
    demo = demo_for("mnist", "mnistm")
    assert demo.method == "dann" and demo.steps == 20 and demo.wants_warm_start
    assert demo.warm_start is None and demo.config().pretrained is None
    assert "\n" not in demo.note and "source-only model of mnist" in demo.note and "from scratch" in demo.note
    assert reference("mnist", "mnistm")["source_only"] is None


def test_an_empty_zoo_offers_the_first_unsupervised_method_as_it_is(tmp_path, zoo_env):
    from core.methods import METHODS, default_method

    zoo_env(tmp_path / "no-zoo-here")
    demo = demo_for("mnist", "mnistm")
    assert demo.method == default_method() and demo.steps == METHODS[demo.method].app_steps
    assert demo.warm_start is None and demo.config().pretrained is None
    assert "\n" not in demo.note and "No demo recipe" in demo.note and "from scratch" in demo.note
    assert reference("mnist", "mnistm") == {"source_only": None, "recommended": None}


def test_an_unreadable_recipe_file_counts_as_missing(tmp_path, tiny_zoo, zoo_env):
    zoo = zoo_env(_zoo(tmp_path, tiny_zoo, "dann", DANN_DEMO))
    (zoo / demo_mod.RECIPES_NAME).write_text("{ not json")
    demo = demo_for("mnist", "mnistm")
    assert demo.method == "dann" and demo.warm_start is None and "No demo recipe" in demo.note


def test_reference_reads_the_shipped_models_and_the_leaderboard(tmp_path, tiny_zoo, zoo_env):
    zoo = zoo_env(_zoo(tmp_path, tiny_zoo, "dann", DANN_DEMO))
    card = json.loads((zoo / "mnist-mnistm" / "dann" / "card.json").read_text())
    base = json.loads((zoo / "mnist-mnistm" / "source_only" / "card.json").read_text())
    ref = reference("mnist", "mnistm")
    assert ref["source_only"] == pytest.approx(base["metrics"]["target_acc"])
    rec = ref["recommended"]
    assert rec["method"] == "dann" and rec["shipped"] == pytest.approx(card["metrics"]["target_acc"])
    assert (rec["mean"], rec["n_seeds"], rec["gain"]) == (50.0, 3, 10.0)
    assert rec["steps"] == card["hyperparameters"]["steps"]


def test_the_shipped_recipes_name_registered_methods_and_valid_settings():
    """pretrained/demo.json, as shipped: every entry names a method and trains with valid settings."""
    from core.methods import METHODS
    from core.training.recipes import recipe
    from core.util.settings import coerce_settings

    from core.zoo import ZOO_DIR

    from core.zoo import scenarios

    data = json.loads((ZOO_DIR / demo_mod.RECIPES_NAME).read_text())
    assert data["recipes"] and data["fuller"]["recipes"]
    tiers = [("quick", data["recipes"])] + [("fuller", r) for r in data["fuller"]["recipes"].values()]
    sources = {s[0] for s in scenarios()}
    assert set(data["fuller"]["recipes"]) <= sources
    for which, recipes in tiers:
        for method, spec in recipes.items():
            assert method in METHODS, method
            config = recipe(method, steps=spec["steps"], batch_size=spec["batch_size"], lr=spec["lr"]).validate()
            coerce_settings(METHODS[method].hyperparameters, spec.get("hparams", {}), method, noun="hyperparameter")
            assert config.steps <= 2000 and isinstance(spec["warm_start"], bool)
            assert spec["median_cpu_s"] <= demo_mod.budget(which), (which, method)  # what the rule let through


def test_a_recommended_method_without_a_demo_recipe_gives_way_to_the_best_scored_one_with_a_recipe():
    from core.training.demo import watchable_method

    board = {"validator": "devn", "scenarios": {"mnist->mnistm": {
        "adamatch": {"validator_scores": {"devn": -0.01}},
        "self_training": {"validator_scores": {"devn": -0.08}},
        "self_ensembling": {"validator_scores": {"devn": -0.04}},
        "dann": {"validator_scores": {"devn": -0.02}}}}}
    recipes = {"self_training": {"steps": 100}, "self_ensembling": {"steps": 100}}
    method, why = watchable_method("mnist", "mnistm", "adamatch", recipes, board)
    assert method == "self_ensembling" and "AdaMatch" in why and "validator DEVN" in why
    assert watchable_method("mnist", "ucidigits", "adamatch", recipes, board) is None  # no scores, no gains


def test_a_scenario_without_scores_trains_the_recipe_that_gained_most_on_the_fixtures(tmp_path, tiny_zoo, zoo_env):
    """Your own pictures: the leaderboard recommends nothing there and scores nothing, so the demo
    must not fall back to the most often recommended method's long run from scratch (AdaMatch, no
    recipe) but train the method whose demo recipe gained most on the fixture domains."""
    recipes = {"self_training": {"steps": 30, "batch_size": 16, "lr": 0.003, "warm_start": True, "fixture_mean_gain": 15.3},
               "self_ensembling": {"steps": 20, "batch_size": 16, "lr": 0.003, "warm_start": True,
                                   "fixture_mean_gain": 33.8}}
    zoo_env(_zoo(tmp_path, tiny_zoo, recommended="adamatch", recipes=recipes))
    demo = demo_for("mnist", "folder:/nowhere/own-pictures")
    assert (demo.method, demo.steps, demo.batch_size) == ("self_ensembling", 20, 16)
    assert "fixture" in demo.why and "+33.8" in demo.why
    assert demo.warm_start is not None  # the same source's shipped source-only model


def test_the_scenario_the_app_opens_on_gets_the_quick_tier_and_the_others_the_fuller_one(tmp_path, tiny_zoo, zoo_env):
    """The quick recipe for the first run a visitor meets; a scenario picked after it gets the fuller
    recipe measured from its source, or the quick one where none was."""
    from core.training.demo import tier
    from core.zoo import scenarios

    first = tuple(scenarios()[0])
    assert tier(*first) == "quick"
    assert {tier(*s) for s in scenarios()[1:]} == {"fuller"} and tier("mnist", "folder:/my/pictures") == "fuller"
    longer = {"mnist": {"dann": {**DANN_DEMO["dann"], "steps": 60}}}
    zoo_env(_zoo(tmp_path, tiny_zoo, "dann", DANN_DEMO, fuller=longer))
    quick = demo_for("mnist", "mnistm")
    assert (quick.tier, quick.steps, quick.about_s) == ("quick", 20, 10)
    fuller = demo_for("mnist", "ucidigits")
    assert (fuller.tier, fuller.steps, fuller.about_s) == ("fuller", 60, 30)
    other_source = demo_for("syndigits", "mnist")
    assert (other_source.tier, other_source.steps) == ("fuller", 20)  # no fuller recipe from SynDigits


def test_without_scores_the_fixture_gains_measured_from_the_scenarios_own_source_weigh_first():
    """A gain measured from MNIST says little about a SynDigits source: where recipes from the
    scenario's own source exist, the fallback weighs those only."""
    from core.training.demo import watchable_method

    recipes = {"self_ensembling": {"fixture_mean_gain": 32.4, "fixture_pairs": "mnist -> 6 fixture domains"},
               "self_training": {"fixture_mean_gain": 29.4, "fixture_pairs": "syndigits -> 6 fixture domains"}}
    assert watchable_method("syndigits", "folder:/mine", "adamatch", recipes, {})[0] == "self_training"
    assert watchable_method("mnist", "folder:/mine", "adamatch", recipes, {})[0] == "self_ensembling"
    assert watchable_method("ucidigits", "folder:/mine", "adamatch", recipes, {})[0] == "self_ensembling"  # none from it
