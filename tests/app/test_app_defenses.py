"""AppTest runs of /detection, /recovery and /defenses: precomputed studies read and labelled, live studies
when no file matches, clear messages where a study cannot run, a corrupt file refused politely."""

from __future__ import annotations

import pytest

from mimi.batch import gallery
from mimi.models import zoo
from tests.conftest_app import app_env, app_test, errors, test_zoo  # noqa: F401  (fixtures)

pytestmark = pytest.mark.usefixtures("app_env")

#: The stand-in zoo's studies, with the settings of tests.conftest_app.FAST (grid 4x4, PGD 5 steps, coarse orders).
STUDY_OPTIONS = {
    "detection": dict(successful_only=False, resamples=100, attack=dict(steps=5), grid="4x4", pair_count=4, samples=2),
    "recovery": dict(min_utility=1e-4, attack=dict(steps=5), grid="4x4", samples=2, random_orders=2),
    "strength": dict(grid="4x4", samples=2, pair_count=4, ratios=(0.1, 0.3, 0.5, 0.7, 0.9, 1.0)),
}


@pytest.fixture(scope="module")
def studies(test_zoo, tmp_path_factory):
    """Precomputed studies of both stand-in models over 2 gallery images, in a folder of their own."""
    folder = tmp_path_factory.mktemp("defenses")
    for name in zoo.names(test_zoo):
        model, _ = zoo.load(name, "cpu", test_zoo)
        for kind, options in STUDY_OPTIONS.items():
            result = gallery.run_in_process(kind, model, model_name=name, images=[0, 10], device="cpu", **options)
            result.params["command"] = f"mimi defenses --models {name} (test)"
            path = gallery.study_file(kind, name, folder)
            path.parent.mkdir(parents=True, exist_ok=True)
            result.to_json(path)
    return folder


def charts(at) -> int:
    return len(at.get("plotly_chart"))


def shown(at) -> str:
    return " ".join([m.value for m in at.markdown] + [c.value for c in at.caption])


def test_detection_page_reads_the_precomputed_studies(studies, monkeypatch):
    monkeypatch.setenv("MIMI_DEFENSES_DIR", str(studies))
    at = app_test("views/detection.py")
    # Untrained stand-ins are hardly ever fooled: under ML-LOO's protocol no image qualifies, and the page says so.
    assert [e for e in errors(at) if "only 0 image(s) qualify for the ROC" in e] == errors(at) != []
    assert charts(at) == 1 and not at.exception  # the LOO maps of this image still draw
    at.toggle(key="detection_every_image").set_value(True).run()
    assert not errors(at)
    assert charts(at) == 3                      # LOO maps, ROC curves, AUC bars
    text = shown(at)
    assert "precomputed over 2 gallery images by `mimi defenses --models fmnist-standard (test)`" in text
    assert text.count("AUC [95% CI]") == 2 and "high-order − low-order" in text
    labels = [b.proto.label for b in at.get("download_button")]
    assert "⬇ JSON fmnist-standard" in labels


def test_recovery_page_reads_the_precomputed_studies(studies, monkeypatch):
    monkeypatch.setenv("MIMI_DEFENSES_DIR", str(studies))
    at = app_test("views/recovery.py")
    assert not errors(at)
    assert charts(at) == 2                      # this image, the gallery
    text = shown(at)
    assert "precomputed over 2 gallery images" in text and "recoverability ρ ± SE" in text
    assert "ρ of fmnist-pgd-at − ρ of fmnist-standard" in text


def test_defenses_page_shows_normalized_order_profiles_and_the_image_on_request(studies, monkeypatch):
    monkeypatch.setenv("MIMI_DEFENSES_DIR", str(studies))
    at = app_test("views/defenses.py")
    assert not errors(at)
    assert charts(at) == 4                      # accuracy, strength shares, low vs high bands, D(m)
    text = shown(at)
    assert "precomputed over 2 gallery images" in text
    assert "**fmnist-pgd-at**: low-order share" in text and "total strength" in text
    at.toggle(key="defenses_image").set_value(True).run()
    assert not errors(at) and charts(at) == 6   # + the order profiles and ΔJ of the selected image


def test_pages_compute_live_when_no_study_matches(studies, monkeypatch):
    monkeypatch.setenv("MIMI_DEFENSES_DIR", str(studies))
    at = app_test("views/defenses.py", grid="3x3", images="2")   # the files are for 4x4
    assert not errors(at) and charts(at) == 4
    assert "computed now over 2 gallery images" in shown(at)
    # Untrained stand-ins are hardly moved by PGD: the live recovery study has no image with utility ≥ 1.
    at = app_test("views/recovery.py", grid="3x3", images="2")
    shown_errors = errors(at)
    assert len(shown_errors) == 1 and "attacking utility ≥ 1" in shown_errors[0]
    assert charts(at) == 1 and not at.exception                  # this image's curves still render


def test_a_corrupt_study_file_is_refused_with_a_warning(studies, monkeypatch, tmp_path):
    folder = tmp_path / "defenses"
    for kind in gallery.DEFENSE_KINDS:
        (folder / kind).mkdir(parents=True)
        for name in ("fmnist-standard", "fmnist-pgd-at"):
            target = gallery.study_file(kind, name, folder)
            target.write_text(gallery.study_file(kind, name, studies).read_text())
    gallery.study_file("detection", "fmnist-standard", folder).write_text("{broken")
    monkeypatch.setenv("MIMI_DEFENSES_DIR", str(folder))
    at = app_test("views/detection.py", images="2")
    warnings = " ".join(w.value for w in at.warning)
    assert "No precomputed detection study for fmnist-standard" in warnings and "unreadable or corrupt" in warnings
    assert not at.exception
