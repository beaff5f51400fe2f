"""mimi.models.evaluation.evaluate: clean and robust accuracy, its agreement with the attacks, progress, JSON."""

from __future__ import annotations

import pytest

from mimi.attacks import fgsm, pgd
from mimi.core.progress import Cancelled
from mimi.core.results import Result
from mimi.data.datasets import ImageSet, load_gallery
from mimi.models.evaluation import AccuracyResult, evaluate
from tests.attacks.test_attacks import fitted_net


@pytest.fixture(scope="module")
def gallery_set():
    return load_gallery()


@pytest.fixture(scope="module")
def net():
    return fitted_net(every=2)  # fitted to the even gallery images; the odd ones are held out


def test_evaluate_agrees_with_the_attacks_run_by_hand(net, gallery_set):
    data = ImageSet(gallery_set.images[1::2], gallery_set.labels[1::2], gallery_set.classes)
    result = evaluate(net, data, [0.0, 0.03], steps=5, batch_size=50, seed=3, name="tiny")
    clean = (net(data.images).argmax(1) == data.labels).numpy()
    assert result.clean_accuracy == pytest.approx(clean.mean())
    assert result.robust_at(0.0) == result.clean_accuracy  # eps 0: nothing to attack
    assert 0 < clean.sum() < len(clean)  # misclassified images count as not robust, unattacked
    x, y = data.images[clean], data.labels[clean]
    by_hand = pgd(net, x, y, eps=0.03, steps=5, seed=3)
    assert result.robust_at(0.03) == pytest.approx((~by_hand.fooled).sum() / len(data))
    fast = evaluate(net, data, [0.03], batch_size=50, seed=3, attack="fgsm-rs")
    by_hand = fgsm(net, x, y, eps=0.03, random_start=True, seed=3)
    assert fast.robust_accuracy[0] == pytest.approx((~by_hand.fooled).sum() / len(data))
    assert fast.protocol["attack"] == "fgsm-rs" and fast.protocol["step_size"] == "1.25*eps"


def test_robustness_curve_falls_and_pgd_is_stronger_than_fgsm(net, gallery_set):
    data = gallery_set.subset(60)
    curve = evaluate(net, data, [0.0, 0.02, 0.05, 0.1], steps=10, batch_size=25)
    assert curve.clean_accuracy > 0.8
    assert all(a >= b for a, b in zip(curve.robust_accuracy, curve.robust_accuracy[1:]))
    assert curve.robust_at(0.1) < 0.5 * curve.robust_at(0.02)
    single = evaluate(net, data, [0.02, 0.05], attack="fgsm", batch_size=25)
    assert all(f >= p for f, p in zip(single.robust_accuracy, curve.robust_accuracy[1:3]))
    assert all(r <= curve.clean_accuracy for r in single.robust_accuracy + curve.robust_accuracy)


def test_progress_reaches_the_total_and_cancel_stops(net, gallery_set):
    calls = []
    evaluate(net, gallery_set.subset(30), [0.05, 0.1], steps=2, batch_size=10,
             progress=lambda done, total, message: calls.append((done, total)))
    assert calls[-1] == (9, 9) and [d for d, _ in calls] == list(range(1, 10))

    def cancel(done, total, message):
        if done == 2:
            raise Cancelled()

    with pytest.raises(Cancelled):
        evaluate(net, gallery_set.subset(30), [0.05], steps=2, batch_size=10, progress=cancel)


def test_result_json_round_trip_and_protocol(net, gallery_set):
    result = evaluate(net, gallery_set.subset(10), [0.0, 0.1], steps=3, restarts=2, norm="l2", name="tiny",
                      data_name="gallery[:10]")
    back = Result.from_json(result.to_json())
    assert isinstance(back, AccuracyResult) and back == result
    assert result.protocol == {**result.protocol, "attack": "pgd", "norm": "l2", "steps": 3, "restarts": 2,
                               "step_size": "2.5*eps/steps", "random_start": True}
    with pytest.raises(ValueError, match="0.3"):
        result.robust_at(0.3)


@pytest.mark.parametrize("kwargs, message", [
    (dict(attack="cw"), "'cw'"), (dict(eps_list=[-0.1]), "-0.1"), (dict(steps=0), "got 0"),
    (dict(norm="l1"), "'l1'"), (dict(restarts=0), "restarts"), (dict(batch_size=0), "batch_size"),
])
def test_bad_settings_raise(net, gallery_set, kwargs, message):
    with pytest.raises(ValueError, match=message):
        evaluate(net, gallery_set.subset(4), **kwargs)
