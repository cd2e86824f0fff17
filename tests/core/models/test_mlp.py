"""The point MLP (``--arch mlp``) and the one-line refusals between points and pictures."""

from __future__ import annotations

import pytest
import torch

from core.models import ARCH_INFO, PointMLP, arches_for, build_model, count_parameters


def test_the_mlp_maps_points_to_2d_features_and_logits():
    model = build_model({"arch": "mlp", "num_classes": 3})
    x = torch.randn(7, 2)
    assert model.features(x).shape == (7, 2) and model(x).shape == (7, 3)
    assert model.input_size == 2 and model.spec["arch"] == "mlp"
    assert count_parameters(model) < 10_000
    wide = build_model({"arch": "mlp", "num_classes": 2, "feature_dim": 8, "width": 0.5})
    assert wide.features(x).shape == (7, 8) and wide.backbone.net[0].out_features == 32


def test_arch_info_says_what_each_backbone_takes():
    assert arches_for("points") == ["mlp"]
    assert set(arches_for("pictures")) == {"digits_cnn", "resnet18", "resnet50"}
    assert ARCH_INFO["mlp"]["default_size"] == 2


def test_the_mlp_refuses_pictures_in_one_line():
    with pytest.raises(ValueError) as err:
        PointMLP(2)(torch.rand(2, 3, 28, 28))
    assert "takes points" in str(err.value) and "\n" not in str(err.value)


def _config(**kw):
    from core.training.recipes import recipe

    return recipe(kw.pop("method", "dann"), kw.pop("source", "toy:moons"), kw.pop("target", "toy:moons?rotate=35"),
                  device="cpu", **kw)


@pytest.mark.parametrize("kw, words", [
    (dict(arch="digits_cnn"), ["holds 2-D points", "digits_cnn takes pictures", "--arch mlp"]),
    (dict(source="mnist", target="mnistm", arch="mlp"), ["mlp takes 2-D points", "mnist holds pictures",
                                                         "digits_cnn"]),
    (dict(target="mnist"), ["toy:moons holds points and mnist holds pictures"]),
    (dict(image_size=28), ["--image-size 28 does not apply"]),
    (dict(target="toy:moons?rotate=500"), ["rotate=500", "-180..180"]),
])
def test_the_plan_refuses_mismatched_inputs_in_one_line(kw, words):
    from core.training.plan import prepare_run

    with pytest.raises(ValueError) as err:
        prepare_run(_config(**kw))
    message = str(err.value)
    assert "\n" not in message and all(w in message for w in words), message


def test_methods_that_need_pictures_are_refused_on_points_listing_those_that_run():
    from core.methods import METHODS, needs_pictures, runs_on_points
    from core.training.plan import prepare_run

    assert set(needs_pictures()) | set(runs_on_points()) == set(METHODS)
    for name in needs_pictures():
        with pytest.raises(ValueError) as err:
            prepare_run(_config(method=name))
        message = str(err.value)
        assert f"{name!r} needs pictures" in message and "\n" not in message
        assert all(m in message for m in runs_on_points())
    for name in runs_on_points():
        if not any(h.required for h in METHODS[name].hyperparameters.values()):
            plan = prepare_run(_config(method=name))
            assert plan.config.arch == "mlp" and plan.image_size == 2


def test_a_point_recipe_is_the_mlp_with_the_methods_own_point_settings():
    config = _config(arch=None)
    assert config.arch == "mlp" and config.steps == 1000 and config.hparams["disc_hidden"] == 64
    assert _config(arch=None, hparams={"disc_hidden": 32}).hparams["disc_hidden"] == 32
    from core.training.recipes import recipe

    assert recipe("dann", "mnist", "mnistm", arch=None).arch == "digits_cnn"
    assert "disc_hidden" not in recipe("dann", "mnist", "mnistm").hparams
