"""Every text beside a chart says what the numbers on screen support: the paper's claims set against mimi's
measurements, computed from the data the page shows (never hard-coded); a caveat wherever a result rests on an
attack of utility below 1; "success" a changed prediction; one colour meaning on every chart (clean blue,
adversarial red, nothing else in either)."""

from __future__ import annotations

import colorsys
import re
from types import SimpleNamespace

import numpy as np
import plotly.colors
import pytest

from mimi import figures
from mimi.batch import gallery as stored
from mimi.batch.study import STUDY_DIR
from mimi.defenses.strength import order_strength
from mimi.figures import defenses as figures_defenses
from mimi.figures import profiles as figures_profiles
from mimi.figures import study as figures_study
from mimi.ui import defenses
from tests.app.test_app_defenses import studies  # noqa: F401  (fixture: precomputed studies of the stand-in zoo)
from tests.conftest_app import app_env, app_test, errors, test_zoo  # noqa: F401  (fixtures)

#: The stand-in zoo (tests.conftest_app): fmnist-standard (recipe standard) and fmnist-pgd-at (recipe pgd-at).
pytestmark = pytest.mark.usefixtures("app_env")


def strength(model: str, low: float, low_se: float, high: float, high_se: float, total=2.0, total_se=0.1):
    return SimpleNamespace(model=model, bands={"low": {"share": low, "se": low_se}, "high": {"share": high,
                                                                                             "se": high_se}},
                           total=total, total_se=total_se)


def shown(at) -> str:
    return " ".join([m.value for m in at.markdown] + [c.value for c in at.caption] + [w.value for w in at.warning])


# --------------------------------------------------------------------------- the paper against the numbers
def test_the_strength_claim_reads_the_opposite_where_the_numbers_are_opposite():
    ref = strength("fmnist-standard", 0.40, 0.01, 0.37, 0.01)
    opposite = defenses.strength_against_paper({"fmnist-standard": ref,
                                                "fmnist-pgd-at": strength("fmnist-pgd-at", 0.24, 0.01, 0.50, 0.02)},
                                               "fmnist-standard")["low-high"]
    assert opposite.startswith("*The paper says* adversarial training")
    se_low, se_high = np.hypot(0.01, 0.01), np.hypot(0.02, 0.01)
    assert f"low-order share {0.24 - 0.40:+.3f} ± {se_low:.3f} (smaller)" in opposite
    assert f"high-order share {0.50 - 0.37:+.3f} ± {se_high:.3f} (larger)" in opposite
    assert "the opposite of the paper's claim" in opposite
    agrees = defenses.strength_against_paper({"fmnist-standard": ref,
                                              "fmnist-pgd-at": strength("fmnist-pgd-at", 0.50, 0.01, 0.30, 0.01)},
                                             "fmnist-standard")["low-high"]
    assert agrees.endswith("as the paper says.") and "opposite" not in agrees
    unresolved = defenses.strength_against_paper({"fmnist-standard": ref,
                                                  "fmnist-pgd-at": strength("fmnist-pgd-at", 0.41, 0.01, 0.36, 0.01)},
                                                 "fmnist-standard")["low-high"]
    assert "no resolved difference" in unresolved and "(smaller)" not in unresolved
    assert "dropout" not in defenses.strength_against_paper({"fmnist-standard": ref}, "fmnist-standard")


def test_the_disentanglement_and_recovery_claims_quote_their_differences():
    ratios = np.array([0.1, 0.2, 0.3, 0.5, 0.9])
    curve = lambda d: SimpleNamespace(ratios=ratios, trivial=np.zeros(5, bool), d=np.array(d), d_se=np.full(5, 0.02))
    text = defenses.disentanglement_against_paper({"fmnist-standard": curve([0.5, 0.4, 0.4, 0.4, 0.6]),
                                                   "fmnist-pgd-at": curve([0.7, 0.41, 0.5, 0.3, 0.6])},
                                                  "fmnist-standard", 100)
    assert "*On these 100 images mimi measures*" in text and "r = 0.1, 0.2, 0.3:" in text   # low orders only
    assert "+0.20 ± 0.03, +0.01 ± 0.03, +0.10 ± 0.03" in text
    assert "higher by more than 2 SE at 2 of 3, as the paper says" in text
    study = lambda mean, se, used: SimpleNamespace(areas={"ranked": {"mean": mean, "se": se}}, min_utility=1.0,
                                                   used=np.arange(100) < used, images=list(range(100)))
    text = defenses.recovery_against_paper({"fmnist-standard": study(0.637, 0.005, 100),
                                            "fmnist-pgd-at": study(0.712, 0.013, 44)}, "fmnist-standard")
    assert f"+0.075 ± {np.hypot(0.005, 0.013):.3f} (higher)" in text and "44 of 100 images" in text
    assert "a selection" in text   # the images the equal-ε attack moved enough


def test_the_detection_claim_says_when_ml_loo_scores_adversarial_inputs_lower():
    roc = SimpleNamespace(auc=0.28, auc_low=0.22, auc_high=0.35)
    study = SimpleNamespace(detector=lambda name: roc, high_minus_low={"estimate": 0.2, "low": 0.11, "high": 0.28})
    text = defenses.detection_against_paper({"fmnist-standard": study})
    assert "fmnist-standard 0.28 [0.22, 0.35], below chance: adversarial inputs score lower" in text
    assert "fmnist-standard +0.20 [+0.11, +0.28] (high orders separate better)" in text


def test_a_weak_attack_carries_the_recovery_caveat_and_a_strong_one_none():
    assert defenses.weak_attack_caveat({"a": 2.0, "b": 1.0}, "x") is None
    text = defenses.weak_attack_caveat({"a": 14.13, "b": 0.24}, "ρ is unstable there")
    assert "less than 1 for b (0.24): ρ is unstable there" in text and "a (" not in text
    assert "leaves out such images (attacking utility below 1)" in text


def test_the_defenses_page_sets_the_paper_against_its_own_numbers(studies, monkeypatch):  # noqa: F811
    monkeypatch.setenv("MIMI_DEFENSES_DIR", str(studies))
    at = app_test("views/defenses.py")
    assert not errors(at)
    text = shown(at)
    ref, at_model = (order_strength(stored.load_study("strength", name, studies), name)
                     for name in ("fmnist-standard", "fmnist-pgd-at"))
    low = at_model.bands["low"]["share"] - ref.bands["low"]["share"]
    se = np.hypot(at_model.bands["low"]["se"], ref.bands["low"]["se"])
    assert "*The paper says* adversarial training (PGD-AT, TRADES) and Cutout" in text
    assert f"fmnist-pgd-at: low-order share {low:+.3f} ± {se:.3f}" in text       # the page's own numbers
    assert "*The paper says* adversarially trained models learn more disentangled" in text
    assert "suppress fragile *high-order* ones" not in text                       # no unqualified claim left


def test_recovery_of_one_image_under_a_weak_attack_carries_the_caveat(studies, monkeypatch):  # noqa: F811
    monkeypatch.setenv("MIMI_DEFENSES_DIR", str(studies))
    at = app_test("views/recovery.py")
    assert not errors(at)
    # The untrained stand-ins barely move under PGD: every utility shown is below 1, and each is named.
    utilities = dict(re.findall(r"\*\*(\S+)\*\*: attacking utility (\d+\.\d\d)", shown(at)))
    assert utilities and all(float(u) < 1 for u in utilities.values())
    warning = " ".join(w.value for w in at.warning)
    assert all(f"{name} ({u})" in warning for name, u in utilities.items())
    assert "The gallery below leaves out such images" in warning and "equal ε" in warning
    assert "*The paper says* adversarial examples of adversarially trained models" in shown(at)


@pytest.mark.skipif(not (STUDY_DIR / "study.json").exists(), reason="no shipped study in assets/study")
def test_study_success_is_a_changed_prediction_and_predictions_are_class_names():
    from mimi.batch.study.jobs import StudyJobResult
    from mimi.batch.engine import read_manifest, scan_results

    at = app_test("views/study.py", timeout=300)
    assert not errors(at)
    claims, models, images = at.dataframe[0], at.dataframe[-2], at.dataframe[-1]   # a twin's table between
    outcomes = [o for o in scan_results(STUDY_DIR, read_manifest(STUDY_DIR)).outcomes.values()
                if isinstance(o, StudyJobResult)]
    for row in models.value.to_dict("records"):
        attacks = [o.attack for o in outcomes if o.model == row["model"]]
        changed = np.mean([a["adv_prediction"] != a["clean_prediction"] for a in attacks])
        assert row["attack success (prediction changed)"] == f"{changed:.0%}"
    standard = models.value.set_index("model").loc["fmnist-standard", "attack success (prediction changed)"]
    assert standard != "100%"      # some of its images were misclassified before the attack and stayed so
    shown_predictions = images.value["prediction → after PGD"]
    assert not shown_predictions.str.contains(r"\d").any()          # names, not class numbers
    assert shown_predictions.str.contains("✗").any()               # a clean prediction already wrong, marked
    assert claims.value["comparison"].str.endswith("(beside)").sum() == (claims.value["test"] == "beside").sum()
    weak = images.value[images.value["utility"] < 1].groupby("model").size()   # the caveat, from the rows shown
    captions = " ".join(c.value for c in at.caption)
    assert not weak.empty and all(f"{name} {count} of {(images.value['model'] == name).sum()}" in captions
                                  for name, count in weak.items())


# --------------------------------------------------------------------------- one colour meaning
def _hue(colour: str) -> tuple[float, float]:
    """(hue in degrees, saturation) of a '#rrggbb' or 'rgb(r, g, b)' colour."""
    if colour.startswith("#"):
        rgb = [int(colour[k:k + 2], 16) / 255 for k in (1, 3, 5)]
    else:
        rgb = [float(v) / 255 for v in re.findall(r"[\d.]+", colour)[:3]]
    h, _, s = colorsys.rgb_to_hls(*rgb)
    return h * 360, s


def is_blue_or_red(colour: str) -> bool:
    hue, saturation = _hue(colour)
    return saturation > 0.3 and (195 <= hue <= 250 or hue <= 15 or hue >= 340)


def test_no_chart_uses_blue_or_red_for_anything_but_clean_and_adversarial():
    assert is_blue_or_red(figures.CLEAN) and is_blue_or_red(figures.ADVERSARIAL)   # the test can see them
    decomposition = figures_profiles.decomposition_figure([("single cells Σφ⁽⁰⁾", 0.5), ("orders m=0–2", -1.0)],
                                                          total=-0.5)
    waterfall = decomposition.data[0]
    used = [waterfall.increasing.marker.color, waterfall.decreasing.marker.color, waterfall.totals.marker.color]
    assert len(set(used)) == 3 and not any(map(is_blue_or_red, used))
    scale = [c for _, c in plotly.colors.get_colorscale(figures.DIVERGING)]
    assert not any(map(is_blue_or_red, scale))                      # maps: the perturbation, I(i, j), φ, LOO
    assert not any(map(is_blue_or_red, figures_study.VERDICT_COLOURS.values()))
    bands = figures_defenses.strength_bands_figure(
        {"a": order_strength(SimpleNamespace(strength=np.array([[1.0, 2.0, 3.0], [2.0, 1.0, 1.0]]),
                                             ratios=np.array([0.1, 0.5, 0.9]), orders=np.arange(3), n=5, grid="2x2",
                                             debiased=True, params={}), "a")})
    low, high = (t.marker.color for t in bands.data if t.name.startswith(("low", "high")))
    assert low != high and not is_blue_or_red(low) and not is_blue_or_red(high)


def test_the_decomposition_puts_each_part_on_a_row_of_its_own():
    fig = figures_profiles.decomposition_figure([("single cells Σφ⁽⁰⁾", 0.5), ("orders m=0–2", 1.0)], total=1.5)
    waterfall, exact = fig.data
    assert waterfall.orientation == "h" and list(waterfall.y)[-1] == "sum of parts"
    assert list(fig.layout.yaxis.ticktext) == ["single Σφ⁽⁰⁾", "m=0–2", "sum of parts"]
    assert exact.x[0] == 1.5 and "green: part > 0, purple: part < 0" in fig.layout.title.text


def test_the_roc_subtitle_gives_one_image_count_per_model():
    rocs = [SimpleNamespace(name=n, fpr=[0, 1], tpr=[0, 1], auc=0.5, auc_low=0.4, auc_high=0.6)
            for n in ("ml-loo", "high-order", "low-order")]
    study = lambda used: SimpleNamespace(detectors=rocs, used=np.arange(10) < used,
                                         detector=lambda name: next(r for r in rocs if r.name == name))
    fig = figures_defenses.roc_figure({"a": study(7), "b": study(7), "c": study(9)})
    assert re.sub(r"</?sup>|<br>", " ", fig.layout.title.text).count("images used: a 7, b 7, c 9") == 1
