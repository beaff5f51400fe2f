"""Detection: exact leave-one-out values, the LOO/interaction identity, AUC against pair counting, bootstrap,
bad input, and an end-to-end gallery study with a JSON round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from mimi.analysis.gallery import check_gallery_indices
from mimi.core.results import Result
from mimi.data.datasets import load_gallery
from mimi.defenses import detection
from mimi.interactions import exact_values, order_interactions_from_values, order_marginals_from_values


def table_game(table: np.ndarray):
    """v(S) = table[bitmask of S] (bit i = player i): any game on n players."""
    def v(masks):
        masks = np.asarray(masks, dtype=bool)
        return table[(masks * (1 << np.arange(masks.shape[1]))).sum(axis=1)]
    return v


class LinearLogit(nn.Module):
    """logits = W x.flatten() + b: v = logit is additive over pixels, so LOO values are sums over a cell."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.linear = nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            self.linear.weight.copy_(weight)
            self.linear.bias.copy_(bias)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x):
        return self.linear(x.flatten(1))


def linear_model(classes=3, pixels=16, seed=0) -> LinearLogit:
    g = torch.Generator().manual_seed(seed)
    return LinearLogit(torch.randn(classes, pixels, generator=g), torch.randn(classes, generator=g))


# --------------------------------------------------------------------------- leave-one-out on games
def test_leave_one_out_exact_on_a_small_game():
    # v(S) = 2·[0∈S] + 3·[1∈S] − [2∈S] + 5·[0∈S][1∈S]: a_0 = 2 + 5, a_1 = 3 + 5, a_2 = −1.
    def v(masks):
        m = np.asarray(masks, dtype=float)
        return 2 * m[:, 0] + 3 * m[:, 1] - m[:, 2] + 5 * m[:, 0] * m[:, 1]

    np.testing.assert_array_equal(detection.leave_one_out(v, 3), [7.0, 8.0, -1.0])
    calls = []
    detection.leave_one_out(lambda masks: calls.append(len(masks)) or v(masks), 3)
    assert sum(calls) == 4                      # n + 1 mask rows, one batch
    two = detection.leave_one_out(lambda masks: np.stack([v(masks), -v(masks)], axis=1), 3)
    np.testing.assert_array_equal(two, [[7, -7], [8, -8], [-1, 1]])


@pytest.mark.parametrize("n", [2, 3, 5, 6])
def test_loo_is_the_sum_of_all_orders_interactions(n):
    """PAPER.md: φ^(m+1)(i) − φ^(m)(i) = E_{j≠i} I^(m)(i, j), so a_i = φ^(n−1)(i) = φ^(0)(i) + Σ_m E_j I^(m)(i, j),
    while φ(i) = φ^(0)(i) + Σ_m (n−1−m)/n E_j I^(m)(i, j)."""
    table = np.random.default_rng(n).normal(size=2 ** n)
    v = table_game(table)
    values = exact_values(v, n)
    interactions = order_interactions_from_values(values, n)          # (n−1, n, n), zero diagonal
    marginals = order_marginals_from_values(values, n)                # (n, n): φ^(m)(i)
    mean_over_j = interactions.sum(axis=2) / (n - 1)                   # (n−1, n): E_{j≠i} I^(m)(i, j)
    loo = detection.leave_one_out(v, n)
    np.testing.assert_allclose(loo, marginals[n - 1], atol=1e-12)
    np.testing.assert_allclose(loo, marginals[0] + mean_over_j.sum(axis=0), atol=1e-10)
    weights = (n - 1 - np.arange(n - 1)) / n
    np.testing.assert_allclose(marginals.mean(axis=0), marginals[0] + weights @ mean_over_j, atol=1e-10)


def test_leave_one_out_map_on_a_linear_model_is_exact():
    model = linear_model()
    x = torch.rand(1, 4, 4, generator=torch.Generator().manual_seed(1))
    x_adv = (x + 0.1).clamp(0, 1)
    result = detection.leave_one_out_map(model, x, x_adv, grid="2x2", baseline="zero", value="logit",
                                         target="predicted")
    cells = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]).reshape(-1)
    for attribution, image in ((result.clean, x), (result.adversarial, x_adv)):
        target = int(model(image[None]).argmax())
        assert attribution.target == attribution.prediction == target
        contribution = (model.linear.weight[target] * image.flatten()).numpy()
        expected = np.array([contribution[cells == c].sum() for c in range(4)])
        np.testing.assert_allclose(attribution.values.reshape(-1), expected, rtol=1e-5, atol=1e-5)
        assert attribution.iqr == pytest.approx(np.quantile(expected, 0.75) - np.quantile(expected, 0.25), abs=1e-5)
        assert attribution.v_full == pytest.approx(float(model(image[None])[0, target]), abs=1e-5)
    assert result.forward_passes == 2 * (4 + 1)
    back = Result.from_json(result.to_json())
    assert type(back.adversarial) is detection.Attribution
    np.testing.assert_array_equal(back.clean.values, result.clean.values)


def test_leave_one_out_map_bad_input():
    model = linear_model()
    x = torch.rand(1, 4, 4)
    with pytest.raises(ValueError, match="adv_image has shape"):
        detection.leave_one_out_map(model, x, torch.rand(1, 4, 3), grid="2x2", baseline="zero")
    with pytest.raises(ValueError, match="values must be in"):
        detection.leave_one_out_map(model, x * 3, grid="2x2", baseline="zero")
    with pytest.raises(ValueError, match="label"):
        detection.leave_one_out_map(model, x, grid="2x2", baseline="zero", target="label")
    with pytest.raises(ValueError, match="target class"):
        detection.leave_one_out_map(model, x, grid="2x2", baseline="zero", target=7)


# --------------------------------------------------------------------------- ROC and AUC
def brute_force_auc(negatives, positives) -> float:
    wins = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p in positives for q in negatives)
    return wins / (len(positives) * len(negatives))


scores = st.lists(st.integers(-4, 4), min_size=1, max_size=25)   # small integers: many ties


@settings(max_examples=150, deadline=None)
@given(scores, scores)
def test_auc_is_pair_counting_and_the_roc_area(negatives, positives):
    value = detection.auc(negatives, positives)
    assert value == pytest.approx(brute_force_auc(negatives, positives), abs=1e-12)
    assert detection.auc(positives, negatives) == pytest.approx(1 - value, abs=1e-12)
    fpr, tpr, thresholds = detection.roc_curve(negatives, positives)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0) and np.all(np.diff(thresholds) < 0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(value, abs=1e-12)


def test_auc_extremes():
    assert detection.auc([0, 1, 2], [3, 4]) == 1.0
    assert detection.auc([3, 4], [0, 1, 2]) == 0.0
    assert detection.auc([1, 1], [1]) == 0.5


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(-3, 3), st.integers(-3, 3)), min_size=2, max_size=12), st.integers(0, 99))
def test_paired_bootstrap_auc_is_the_auc_of_each_resample(pairs, seed):
    clean, adversarial = np.array(pairs, dtype=float).T
    weights = detection.bootstrap_weights(len(clean), 100, seed)
    assert np.all(weights.sum(axis=1) == len(clean))
    replicates = detection.paired_bootstrap_auc(clean, adversarial, weights)
    for r in (0, 57):  # a resample: the drawn images, each once per draw
        drawn = np.repeat(np.arange(len(clean)), weights[r].astype(int))
        assert replicates[r] == pytest.approx(brute_force_auc(clean[drawn], adversarial[drawn]), abs=1e-12)
    ones = np.ones((1, len(clean)))
    assert detection.paired_bootstrap_auc(clean, adversarial, ones)[0] == pytest.approx(detection.auc(clean, adversarial))


def test_bootstrap_interval_covers_a_known_auc():
    """Scores N(0, 1) clean and N(1, 1) adversarial: AUC = Φ(1/√2) ≈ 0.7602; the 95% interval from 200 images
    covers it in about 95% of 40 seeded studies (at least 34)."""
    truth = 0.760249
    covered = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        clean, adversarial = rng.normal(size=200), rng.normal(1.0, 1.0, size=200)
        replicates = detection.paired_bootstrap_auc(clean, adversarial, detection.bootstrap_weights(200, 400, seed))
        low, high = detection.percentile_interval(replicates)
        covered += low <= truth <= high
    assert covered >= 34


def test_roc_and_bootstrap_bad_input():
    with pytest.raises(ValueError, match="at least one negative and one positive"):
        detection.auc([], [1.0])
    with pytest.raises(ValueError, match="finite"):
        detection.roc_curve([np.nan], [1.0])
    with pytest.raises(ValueError, match="resamples must be an integer in 100..100000, got 50"):
        detection.bootstrap_weights(5, 50, 0)
    with pytest.raises(ValueError, match="one clean and one adversarial score per image"):
        detection.paired_bootstrap_auc([1, 2, 3], [1, 2], np.ones((1, 3)))
    with pytest.raises(ValueError, match="only 1 image"):
        detection.detection_rocs(np.zeros((3, 4, 2)), [True, False, False, False], resamples=100, seed=0)
    with pytest.raises(ValueError, match="gallery image 100 does not exist"):
        check_gallery_indices([0, 100], 100)
    with pytest.raises(ValueError, match="repeat"):
        check_gallery_indices([3, 3], 100)


# --------------------------------------------------------------------------- a gallery study, end to end
def test_detection_study_end_to_end():
    gallery = load_gallery()
    indices = [0, 10, 20, 30]
    torch.manual_seed(0)
    from mimi.core.compute import freeze
    from mimi.models.networks import SmallCNN

    model = freeze(SmallCNN())
    study = detection.detection_study(model, model_name="tiny", images=indices, successful_only=False,
                                      attack=dict(steps=3), resamples=200, grid="3x3", pair_count=4, samples=2,
                                      gallery=gallery, device="cpu")
    assert study.scores.shape == (3, 4, 2) and study.used.all()
    assert [r.name for r in study.detectors] == list(detection.DETECTORS)
    for d, roc in enumerate(study.detectors):
        assert roc.auc == pytest.approx(brute_force_auc(study.scores[d, :, 0], study.scores[d, :, 1]))
        assert 0 <= roc.auc_low <= roc.auc_high <= 1
    # The ML-LOO score of an image is the IQR of its leave-one-out map (same attack, same seed).
    from mimi.analysis import run_attack
    from mimi.analysis.gallery import gallery_image_seed

    attack = run_attack(model, gallery.images[10], int(gallery.labels[10]), eps=0.1, steps=3, seed=gallery_image_seed(0, 10))
    loo = detection.leave_one_out_map(model, gallery.images[10], attack.x_adv[0], grid="3x3")
    assert study.scores[0, 1, 0] == pytest.approx(loo.clean.iqr) and study.scores[0, 1, 1] == pytest.approx(loo.adversarial.iqr)
    c = study.high_minus_low
    assert c["estimate"] == pytest.approx(study.detectors[1].auc - study.detectors[2].auc)
    back = Result.from_json(study.to_json())
    assert type(back) is detection.DetectionStudy and type(back.detectors[0]) is detection.DetectorROC
    np.testing.assert_array_equal(back.scores, study.scores)
    assert back.params == study.params
    assert "AUC [95% CI]" in study.summary()


def test_reselect_rescores_the_stored_scores_under_the_other_image_rule():
    rng = np.random.default_rng(5)
    scores = rng.normal(size=(3, 6, 2))
    labels, predictions = np.arange(6), np.array([0, 1, 2, 3, 9, 5])
    adv_predictions = np.array([1, 1, 7, 8, 9, 0])            # image 1 not fooled, image 4 misclassified clean
    used, rule = detection.image_rule(labels, predictions, adv_predictions, successful_only=False)
    rocs, contrast = detection.detection_rocs(scores, used, resamples=300, seed=2)
    study = detection.DetectionStudy(
        model="m", grid="3x3", n=9, selection="six", images=np.arange(6), labels=labels, predictions=predictions,
        adv_predictions=adv_predictions, attack_success=5 / 6, used=used, used_rule=rule, detectors=rocs,
        scores=scores, high_minus_low=contrast, ci="", forward_passes=0, wall_time_s=0.0,
        params={"resamples": 300, "seed": 2, "successful_only": False})
    strict = detection.reselect(study, successful_only=True)
    np.testing.assert_array_equal(strict.used, [True, False, True, True, False, True])
    assert "ML-LOO's protocol" in strict.used_rule and strict.params["successful_only"] is True
    for d, roc in enumerate(strict.detectors):
        assert roc.auc == pytest.approx(brute_force_auc(scores[d, strict.used, 0], scores[d, strict.used, 1]))
    again = detection.reselect(strict, successful_only=False)
    assert [(r.auc, r.auc_low, r.auc_high) for r in again.detectors] == [(r.auc, r.auc_low, r.auc_high) for r in rocs]
    assert again.high_minus_low == contrast and "4 images used" in strict.ci
