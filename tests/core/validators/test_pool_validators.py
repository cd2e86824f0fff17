"""Pool-aware validators (EnsV, MixVal): each candidate scored among the others, the registry's
pool contract, and MixVal's probes gathered with the evidence."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from core.validators import VALIDATORS, Evidence, ValidatorError, get_validator, score_all, score_pool_all
from core.validators.evidence import MIX_LAMBDA, mix_probes

C = 4


def confident(labels) -> torch.Tensor:
    return 20 * F.one_hot(torch.tensor(labels), C).float()


def test_pool_validators_are_registered_and_refuse_a_single_model_naming_the_pool_size():
    pooled = {n for n, cls in VALIDATORS.items() if cls.pool}
    assert {"ensv", "mixval"} <= pooled
    for name in pooled:
        v = get_validator(name)
        with pytest.raises(ValidatorError, match=rf"needs a pool of at least {v.min_pool} candidates, got 1"):
            v.score(Evidence(target_logits=confident([0, 1, 2, 3]), mix_intra=torch.ones(2, dtype=torch.bool),
                             mix_inter=torch.ones(2, dtype=torch.bool)))
        too_few = [Evidence(target_logits=confident([0, 1, 2, 3]), mix_intra=torch.ones(2, dtype=torch.bool),
                            mix_inter=torch.ones(2, dtype=torch.bool))] * (v.min_pool - 1)
        with pytest.raises(ValidatorError, match=f"at least {v.min_pool}"):
            v.score_pool(too_few)


def test_ensv_scores_agreement_with_the_pools_ensemble_and_never_ranks_the_odd_one_out_first():
    truth = [0, 1, 2, 3, 0, 1, 2, 3]
    good = confident(truth)
    slightly_off = confident([0, 1, 2, 3, 0, 1, 2, 0])
    collapsed = confident([0] * 8)
    scores = get_validator("ensv").score_pool([Evidence(target_logits=z) for z in (good, slightly_off, collapsed, good)])
    assert scores[0] == scores[3] == 1.0            # the majority is the ensemble
    assert scores[1] == pytest.approx(7 / 8)
    assert scores[2] == pytest.approx(2 / 8) and min(scores) == scores[2]  # the collapsed one agrees least


def test_ensv_needs_the_same_pictures_for_every_candidate():
    with pytest.raises(ValidatorError, match="same target pictures"):
        get_validator("ensv").score_pool([Evidence(target_logits=confident([0, 1, 2]))] * 2
                                         + [Evidence(target_logits=confident([0, 1]))])


def test_mixval_ranks_within_the_pool_on_both_probes():
    t, f = torch.tensor([True, True, True]), torch.tensor([False, False, True])
    pool = [Evidence(target_logits=torch.zeros(6, C), mix_intra=a, mix_inter=b) for a, b in ((t, t), (t, f), (f, f))]
    scores = get_validator("mixval").score_pool(pool)
    assert scores == pytest.approx([0.875, 0.5, 0.125])  # mean of the two probes' ranks, / (K − 1)
    # one probe alone is not enough: kept intra but lost inter ranks below keeping both
    no_inter = Evidence(target_logits=torch.zeros(6, C), mix_intra=t, mix_inter=torch.zeros(0, dtype=torch.bool))
    scores = get_validator("mixval").score_pool([pool[0], no_inter])
    assert scores[0] > scores[1]


def test_mix_probes_pair_pictures_and_split_by_pseudo_label():
    class Copy(torch.nn.Module):  # predicts the class encoded in the brightest channel of the picture
        num_classes = C

        def forward(self, x):
            return x.mean((2, 3))[:, :C] * 100 if x.shape[1] >= C else x.mean((2, 3)).repeat(1, 2)[:, :C] * 100

    pictures = torch.zeros(4, 3, 4, 4)
    pictures[0, 0] = pictures[1, 1] = pictures[2, 1] = pictures[3, 0] = 1.0  # classes 0, 1, 1, 0
    model = torch.nn.Sequential()
    model.forward = lambda x: x.mean((2, 3)).repeat(1, 2)[:, :C] * 100  # noqa: E731
    logits = model(pictures)
    intra, inter = mix_probes(model, pictures, logits)
    # pairs (0, 3) and (3, 0) share class 0; (1, 2), (2, 1) share class 1: all intra, all kept at λ = 0.55
    assert MIX_LAMBDA == 0.55 and len(intra) == 4 and len(inter) == 0 and bool(intra.all())


def test_score_pool_all_scores_single_validators_alone_and_pool_ones_together():
    evs = [Evidence(target_logits=confident(labels), target_features=torch.randn(4, 3),
                    mix_intra=torch.ones(1, dtype=torch.bool), mix_inter=torch.ones(1, dtype=torch.bool))
           for labels in ([0, 1, 2, 3], [0, 1, 2, 3], [0, 0, 0, 0])]
    out = score_pool_all(evs, ["entropy", "ensv"])
    assert [s["entropy"] for s, _ in out] == [score_all(ev, ["entropy"])[0]["entropy"] for ev in evs]
    assert [s["ensv"] for s, _ in out] == pytest.approx([1.0, 1.0, 0.25])
    alone = score_pool_all(evs[:1], ["ensv"])
    assert "ensv" not in alone[0][0] and "needs a pool" in alone[0][1]["ensv"]
