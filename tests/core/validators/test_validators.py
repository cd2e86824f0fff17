"""Label-free validators (core/validators): the defining property of each score, the registry,
the evidence they share and the source validation split it comes from."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from core.validators import VALIDATORS, Evidence, ValidatorError, gather_evidence, get_validator, score_all

C = 10
EXPECTED = {"source_val_acc", "entropy", "im", "snd", "dev", "devn", "bnm", "class_ami"}


def onehot_logits(labels: torch.Tensor, scale: float = 8.0) -> torch.Tensor:
    return scale * F.one_hot(labels, C).float()


def clustered(n_per_class: int = 40, dim: int = 16, spread: float = 0.05, seed: int = 0):
    """Features in C well-separated Gaussian clusters: (features (N, dim), cluster ids (N,))."""
    g = torch.Generator().manual_seed(seed)
    centres = 3.0 * torch.randn(C, dim, generator=g)
    ids = torch.arange(C).repeat_interleave(n_per_class)
    return centres[ids] + spread * torch.randn(len(ids), dim, generator=g), ids


def score(name: str, **evidence) -> float:
    return get_validator(name).score(Evidence(**evidence))


# ------------------------------------------------------------------------- registry and errors

def test_registry_has_every_validator_and_unknown_names_list_them():
    assert EXPECTED <= set(VALIDATORS)
    with pytest.raises(ValueError) as err:
        get_validator("accuracy_on_test")
    for name in EXPECTED:
        assert name in str(err.value)


def test_each_validator_documents_its_formula_paper_and_needs():
    for name, cls in VALIDATORS.items():
        import sys

        doc = sys.modules[cls.__module__].__doc__ or ""
        assert "score" in doc and ("(N, C)" in doc or "(M, C)" in doc), name  # formula and shapes
        assert cls.paper and cls.summary and cls.needs, name


def test_too_few_target_images_say_how_many_are_needed():
    tiny = Evidence(target_logits=torch.randn(3, C), target_features=torch.randn(3, 8))
    for name in ("snd", "im", "bnm", "class_ami"):
        need = get_validator(name).min_target_images(C)
        assert need > 3
        with pytest.raises(ValidatorError, match=f"at least {need} unlabelled target images, got 3"):
            get_validator(name).score(tiny)


def test_missing_evidence_is_named():
    with pytest.raises(ValidatorError, match="val_logits"):
        score("source_val_acc", target_logits=torch.randn(50, C))
    with pytest.raises(ValidatorError, match="no validation split"):
        score("source_val_acc", val_logits=torch.empty(0, C), val_labels=torch.empty(0, dtype=torch.long))


def test_every_score_is_a_finite_float_even_on_degenerate_evidence():
    g = torch.Generator().manual_seed(1)
    n, m, d = 120, 40, 16
    cases = {
        "random": Evidence(torch.randn(n, C, generator=g), torch.randn(n, d, generator=g), torch.randn(m, C, generator=g),
                           torch.randint(0, C, (m,), generator=g), torch.randn(m, d, generator=g), torch.randn(n, d, generator=g)),
        "saturated": Evidence(1e4 * torch.randn(n, C, generator=g), torch.zeros(n, d), 1e4 * torch.randn(m, C, generator=g),
                              torch.randint(0, C, (m,), generator=g), torch.zeros(m, d), torch.zeros(n, d)),
    }
    single = [n for n, cls in VALIDATORS.items() if not cls.pool]
    for case, ev in cases.items():
        scores, errors = score_all(ev, single)
        assert not errors, (case, errors)
        for name, value in scores.items():
            assert isinstance(value, float) and math.isfinite(value), (case, name, value)


# ------------------------------------------------------------------------- prediction-based scores

def test_confident_diverse_predictions_beat_uniform_ones():
    labels = torch.arange(C).repeat(20)
    confident, uniform = onehot_logits(labels, 15.0), torch.zeros(len(labels), C)
    for name in ("entropy", "im", "bnm"):
        assert score(name, target_logits=confident) > score(name, target_logits=uniform) + 0.1, name
    assert score("entropy", target_logits=uniform) == pytest.approx(-math.log(C))
    assert score("im", target_logits=confident) == pytest.approx(math.log(C), abs=0.02)
    assert score("bnm", target_logits=confident) == pytest.approx(1.0, abs=0.01)


def test_im_and_bnm_penalise_collapse_onto_one_class_but_entropy_does_not():
    diverse = onehot_logits(torch.arange(C).repeat(20))
    collapsed = onehot_logits(torch.zeros(200, dtype=torch.long))
    assert score("im", target_logits=collapsed) < 0.05 < score("im", target_logits=diverse) - 2.0
    assert score("bnm", target_logits=collapsed) == pytest.approx(1 / math.sqrt(C), abs=0.01)
    assert score("bnm", target_logits=diverse) > score("bnm", target_logits=collapsed) + 0.5
    # the pitfall the study checks: entropy cannot tell a collapsed model from a good one
    assert score("entropy", target_logits=collapsed) == pytest.approx(score("entropy", target_logits=diverse))


def test_snd_is_higher_for_well_clustered_predictions():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(C).repeat(30)
    clustered_preds = onehot_logits(labels, 6.0) + 0.3 * torch.randn(len(labels), C, generator=g)
    diffuse_preds = 1.5 * torch.randn(len(labels), C, generator=g)
    assert score("snd", target_logits=clustered_preds) > score("snd", target_logits=diffuse_preds) + 0.3


def test_source_val_acc_is_the_accuracy_in_percent():
    labels = torch.arange(C).repeat(4)
    logits = onehot_logits(labels)
    logits[:10] = onehot_logits((labels[:10] + 1) % C)   # 10 of 40 wrong
    assert score("source_val_acc", val_logits=logits, val_labels=labels) == pytest.approx(75.0)


# ------------------------------------------------------------------------- DEV / DEVN

def test_dev_is_the_plain_source_val_loss_when_source_and_target_features_coincide():
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(400, 16, generator=g)
    val_feats = torch.randn(100, 16, generator=g)
    val_labels = torch.randint(0, C, (100,), generator=g)
    val_logits = torch.randn(100, C, generator=g)
    plain = -F.cross_entropy(val_logits.double(), val_labels).item()
    ev = Evidence(target_features=feats, source_features=feats.clone(), val_features=val_feats,
                  val_logits=val_logits, val_labels=val_labels, target_logits=torch.randn(400, C))
    from core.validators.dev import density_ratio

    w = density_ratio(feats.numpy(), feats.numpy(), val_feats.numpy())
    assert abs(w.mean() - 1) < 0.02 and w.std() < 0.05           # weights ≈ 1
    for name in ("dev", "devn"):
        assert get_validator(name).score(ev) == pytest.approx(plain, rel=0.03), name


def test_dev_weights_the_source_images_that_look_like_the_target():
    # source: two clusters A and B; target: only A. The model is right on A, wrong on B,
    # so the target risk is low while the plain source-validation loss is high.
    g = torch.Generator().manual_seed(0)
    a, b = torch.full((16,), 2.0), torch.full((16,), -2.0)
    src = torch.cat([a + torch.randn(300, 16, generator=g), b + torch.randn(300, 16, generator=g)])
    tgt = a + torch.randn(300, 16, generator=g)
    val = torch.cat([a + torch.randn(50, 16, generator=g), b + torch.randn(50, 16, generator=g)])
    labels = torch.zeros(100, dtype=torch.long)
    logits = torch.cat([onehot_logits(torch.zeros(50, dtype=torch.long), 5.0),
                        onehot_logits(torch.ones(50, dtype=torch.long), 5.0)])
    ev = Evidence(target_features=tgt, source_features=src, val_features=val, val_logits=logits, val_labels=labels,
                  target_logits=torch.randn(300, C))
    plain = -F.cross_entropy(logits, labels).item()
    loss_on_a = -F.cross_entropy(logits[:50], labels[:50]).item()
    dev, devn = get_validator("dev").score(ev), get_validator("devn").score(ev)
    assert dev > plain + 1.0                          # far better than the unweighted loss ...
    assert dev == pytest.approx(loss_on_a, abs=0.5)   # ... close to the loss on target-like images
    # DEVN's max-normalisation shrinks the weights towards 1: between the two, still on the right side
    assert plain + 0.2 < devn < loss_on_a


# ------------------------------------------------------------------------- ClassAMI

def test_class_ami_is_high_when_predictions_follow_the_clusters_and_zero_otherwise():
    feats, ids = clustered()
    perm = torch.randperm(C, generator=torch.Generator().manual_seed(3))
    matching = onehot_logits(perm[ids])          # any naming of the clusters will do
    collapsed = onehot_logits(torch.zeros_like(ids))
    random = onehot_logits(torch.randint(0, C, ids.shape, generator=torch.Generator().manual_seed(4)))
    assert score("class_ami", target_features=feats, target_logits=matching) > 0.95
    assert score("class_ami", target_features=feats, target_logits=collapsed) == 0.0
    assert abs(score("class_ami", target_features=feats, target_logits=random)) < 0.05


# ------------------------------------------------------------------------- evidence and the split

def test_source_val_split_is_stratified_disjoint_and_independent_of_the_run_seed():
    from core.data import load_domain
    from core.data.splits import source_val_indices, split_source

    labels = load_domain("mnist", "train").labels
    torch.manual_seed(123)
    train_a, val_a = source_val_indices(labels)
    torch.manual_seed(456)
    train_b, val_b = source_val_indices(labels)
    assert torch.equal(val_a, val_b) and torch.equal(train_a, train_b)
    assert len(set(val_a.tolist()) & set(train_a.tolist())) == 0 and len(val_a) + len(train_a) == len(labels)
    assert labels[val_a].bincount(minlength=C).tolist() == [20] * C      # 10 % of each class
    tr, va = split_source(load_domain("mnist", "train"))
    assert (len(tr), len(va), va.split) == (1800, 200, "val")
    # a class with one image stays in training; classes with two give one each
    tr_idx, va_idx = source_val_indices(torch.tensor([0, 1, 1, 2, 2, 2]))
    assert va_idx.tolist() and 0 in tr_idx.tolist() and len(va_idx) == 2


def test_gather_evidence_runs_the_model_once_over_target_train_and_source_val():
    from core.models import build_model

    torch.manual_seed(0)
    model = build_model({"arch": "digits_cnn", "num_classes": C, "input_size": 28})
    ev = gather_evidence(model, "mnist", "ucidigits", target_cap=300, source_cap=100)
    assert ev.target_logits.shape == (300, C) and ev.target_features.shape == (300, 128)
    assert ev.val_logits.shape == (200, C) and ev.val_labels.shape == (200,) and ev.val_features.shape == (200, 128)
    assert ev.source_features.shape == (100, 128)
    assert torch.allclose(ev.target_logits, model.head(ev.target_features), atol=1e-4)  # one pass, both outputs
    again = gather_evidence(model, "mnist", "ucidigits", target_cap=300, source_cap=100)
    assert torch.equal(ev.target_logits, again.target_logits)  # the same images every time
    scores, errors = score_all(ev)
    single = {n for n, cls in VALIDATORS.items() if not cls.pool}
    assert set(scores) == single and set(errors) == set(VALIDATORS) - single  # pool ones need a pool
    assert ev.mix_intra.dtype == torch.bool and len(ev.mix_intra) + len(ev.mix_inter) == 300
