"""/lesson in AppTest (issue 21, item 2): every part renders its charts, Back and Next move the part and the URL,
the URL restores a part (a part that does not exist goes to part 1 with a notice), the texts carry the shipped
study's verdict rows, the image's charts are the study's own jobs (read from its folder, or computed as
``mimi study run`` would), and the projector mode lives in the URL.

The shipped zoo is used (its gallery jobs are in the shipped study); one test uses the seeded stand-ins, which the
study does not hold."""

from __future__ import annotations

import base64
import io
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from mimi.batch.engine import read_manifest, read_outcome, result_path
from mimi.batch.study import STUDY_DIR, StudyParams, build_report, run_job
from mimi.batch.study.plan import gallery_images
from mimi.models import zoo
from tests.conftest_app import APP, ROOT, errors, test_zoo  # noqa: F401  (fixture)

SHIPPED = {"fmnist-standard", "fmnist-pgd-at"} <= set(zoo.names())
pytestmark = pytest.mark.skipif(not SHIPPED, reason="needs the shipped zoo's fmnist-standard and fmnist-pgd-at")


@pytest.fixture(autouse=True)
def shipped_zoo(monkeypatch):
    """The app on the shipped zoo, on the CPU; a long computation does not wait for a button."""
    monkeypatch.delenv("MIMI_ZOO_DIR", raising=False)
    monkeypatch.setenv("MIMI_DEVICE", "cpu")
    monkeypatch.setenv("MIMI_CONFIRM_SECONDS", "300")
    monkeypatch.chdir(ROOT)
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def report():
    return build_report(STUDY_DIR)


def lesson(**query: str):
    """An AppTest of /lesson opened with these URL parameters."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=300)
    for key, value in query.items():
        at.query_params[key] = value
    at.switch_page("views/lesson.py")   # the first run is the lesson's, as when its URL is opened
    at.run()
    return at


def part(at) -> int:
    return at.session_state["mimi_params"]["part"]


def query(at, key: str):
    """The URL's value of ``key`` (None when absent)."""
    return at.query_params.get(key)


def charts(at) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def title(spec: dict) -> str:
    return spec["layout"]["title"]["text"]


def text(at) -> str:
    return " ".join(m.value for m in at.markdown)


def number(value: float) -> str:
    return f"{value:+.3g}".replace("-", "−")


def rows(claim) -> list[str]:
    """Each primary row of a claim as the lesson must print it: comparison, effect, interval, images."""
    return [f"{c.label} {number(c.effect)} [{number(c.ci_low)}, {number(c.ci_high)}] over {c.count} images"
            for c in claim.primary]


def claim(claims, key: str):
    return next(c for c in claims if c.key == key)


def test_the_home_page_leads_into_the_lesson():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    assert not errors(at)
    assert [link.proto.page for link in at.get("page_link")] == ["lesson"]   # one clear way in, not five links


@pytest.mark.parametrize("index", [1, 2, 3, 4])
def test_every_part_renders_its_charts_without_asking(index):
    at = lesson(part=str(index))
    assert not errors(at) and part(at) == index
    specs = charts(at)
    assert not [b for b in at.button if b.label.startswith("Run it")]        # the study holds the image's jobs
    if index == 1:
        assert [title(s).split("<br>")[0] for s in specs] == [
            "The paper's claims (v = log-softmax): effect (claimed > 0) and its interval"]
        outcomes = [m.value for m in at.markdown if m.value.startswith("**fmnist-")]
        assert len(outcomes) == 2 and all("PGD steps" in o and "drop of v(N)" in o for o in outcomes)
        return
    assert len(specs) == 2
    study, image = specs
    assert title(study).startswith("The study's average")
    assert title(image).startswith("One image's D_low" if index == 4 else "Your image")
    for spec in specs:   # both models on both charts, each with its interval
        names = {t.get("name") for t in spec["data"]}
        assert {"fmnist-standard", "fmnist-pgd-at"} <= names
        assert "bars:" in title(spec) or "a spread, not an estimate" in title(spec)


def test_next_and_back_move_the_part_and_the_url():
    at = lesson()
    assert part(at) == 1 and query(at, "part") is None and at.button(key="lesson_back").disabled
    at.button(key="lesson_next").click()
    at.run()
    assert part(at) == 2 and query(at, "part") == "2"
    assert at.subheader[0].value == "Claim (a): which interactions does an attack change?"
    at.button(key="lesson_next").click()
    at.run()
    assert part(at) == 3 and at.subheader[0].value.startswith("Claim (b)")
    at.button(key="lesson_back").click()
    at.run()
    assert part(at) == 2 and at.segmented_control(key="lesson_part").value == 2
    at.segmented_control(key="lesson_part").set_value(4)      # the parts above jump directly
    at.run()
    assert part(at) == 4 and at.subheader[0].value.startswith("Claim (c)")
    assert not [b for b in at.button if b.key == "lesson_next"]
    at.button(key="lesson_study").click()                      # the last part ends at /study
    at.run()
    assert not errors(at) and at.title[0].value == "Study"


def test_the_url_restores_a_part():
    at = lesson(part="3")
    assert not errors(at) and part(at) == 3 and query(at, "part") == "3"
    assert at.subheader[0].value.startswith("Claim (b)") and at.segmented_control(key="lesson_part").value == 3


@pytest.mark.parametrize("wrong", ["99", "0", "two"])
def test_a_part_that_does_not_exist_goes_to_part_1_with_a_notice(wrong):
    at = lesson(part=wrong)
    assert not errors(at) and part(at) == 1 and query(at, "part") is None
    notices = [w.value for w in at.warning if "part" in w.value]
    assert len(notices) == 1 and "allowed: 1 … 4" in notices[0] and wrong in notices[0]
    assert len(charts(at)) == 1                                # part 1, drawn


def test_the_texts_give_the_shipped_studys_verdict_rows(report):
    for index, key in ((2, "a"), (3, "b"), (4, "c")):
        said = text(lesson(part=str(index)))
        primary = claim(report.claims, key)
        assert all(row in said for row in rows(primary)), key
        assert f"**{primary.verdict}**" in said and f"on these models: {primary.verdict}" in said
        twin = claim(report.twin_claims, key)
        if twin.verdict != primary.verdict:        # (b): undecided with log-softmax, holds with log-odds
            assert f"With v = {report.twin_value} instead" in said and all(row in said for row in rows(twin))
            assert f"**{twin.verdict}**" in said
    assert claim(report.claims, "b").verdict == "undecided"    # the lesson says so, as the shipped study does


def gallery_job(report, gallery_index: int, model: str):
    """The shipped study's job of a gallery image (the study's 200 test images hold the gallery's 100)."""
    image = gallery_images([gallery_index])[0]
    manifest = read_manifest(STUDY_DIR)
    source = next(r["source"] for r in manifest.images if r["sha256"] == image.sha256)
    record = next(j for j in manifest.jobs if j["image"] == source and j["model"] == model)
    return read_outcome(result_path(STUDY_DIR, record["key"]), record["key"], read_manifest(STUDY_DIR))


def array(value) -> np.ndarray:
    """A plotly JSON array: a list, or a typed array ({"dtype", "bdata", "shape"})."""
    if not isinstance(value, dict):
        return np.asarray(value, dtype=float)
    flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
    return flat.reshape([int(n) for n in str(value.get("shape", len(flat))).split(",")])


def test_the_image_charts_are_the_studys_own_jobs(report):
    at = lesson(part="2", img="3")
    traces = {t["name"]: t for t in charts(at)[1]["data"] if t.get("name")}
    for name in ("fmnist-standard", "fmnist-pgd-at"):
        change = gallery_job(report, 3, name).profile.squared_change      # S^(m) ± 1.96 SE of the study's job
        assert np.allclose(array(traces[name]["y"]), change.mean)
        assert np.allclose(array(traces[name]["customdata"])[:, 1:], np.column_stack(
            [change.mean - 1.959963984540054 * change.se, change.mean + 1.959963984540054 * change.se]))


def test_the_lesson_computes_an_image_as_the_study_would(report):
    """The job the lesson makes for a gallery image has the study's key and seed, and recomputed it gives the
    study's numbers (one torch thread, as the study ran)."""
    from mimi.ui import lesson as lesson_ui

    pixels = gallery_images([0])[0]
    sel = SimpleNamespace(title="gallery #0", image=pixels.pixels, label=pixels.label)
    job, settings = lesson_ui.lesson_job(sel, "fmnist-standard", report)
    stored = gallery_job(report, 0, "fmnist-standard")
    assert (job.key, job.seed) == (stored.key, stored.seed) and settings == StudyParams.from_dict(report.params)
    model, _ = zoo.load("fmnist-standard", "cpu")
    again = run_job(model, job, settings)
    assert again.attack["utility"] == stored.attack["utility"]
    assert np.allclose(again.profile.squared_change.mean, stored.profile.squared_change.mean, rtol=1e-6, atol=1e-9)
    assert np.allclose(again.disentanglement.numerator, stored.disentanglement.numerator, rtol=1e-6, atol=1e-9)


def test_an_upload_is_computed_through_the_gate_as_a_study_job():
    """An image the study does not hold: both jobs run through the compute gate, and the chart shows them."""
    from mimi.ui import compute

    pixels = (gallery_images([3])[0].pixels[0].numpy() * 255).round().astype(np.uint8)
    pixels[0, 0] = 255 - pixels[0, 0]                                   # one pixel: no longer the study's image
    data = io.BytesIO()
    Image.fromarray(pixels).save(data, format="PNG")
    at = lesson(part="3")
    before = compute.gate().status().cached
    at.sidebar.get("button_group")[0].set_value("upload")
    at.run()
    at.sidebar.get("file_uploader")[0].upload("shirt.png", data.getvalue(), "image/png")
    at.run()
    assert not errors(at) and at.markdown and "upload shirt.png" in text(at)
    assert compute.gate().status().cached >= before + 2                  # two study jobs, computed and cached
    landed = [t["name"] for t in charts(at)[1]["data"] if t.get("name")]
    shown = [w.value for w in at.warning if "did not land" in w.value]
    assert len(landed) + len(shown) == 2 and landed                     # each model: its line or why not


def test_a_model_the_study_does_not_hold_says_why_its_image_shows_nothing(test_zoo, monkeypatch):  # noqa: F811
    monkeypatch.setenv("MIMI_ZOO_DIR", str(test_zoo))    # untrained stand-ins: the study's attack cannot land
    at = lesson(part="2")
    assert not errors(at)
    shown = [w.value for w in at.warning if "did not land at the study's equal strength" in w.value]
    assert len(shown) == 2 and all("[6, 6.05]" in w for w in shown)
    assert [title(s).split("<br>")[0] for s in charts(at)] == ["The study's average"]   # the study's side stays


def test_projector_mode_lives_in_the_url():
    at = lesson(part="2", projector="1")
    assert not errors(at) and at.toggle(key="lesson_projector").value is True
    styles = " ".join(h.proto.body for h in at.get("html"))
    assert "font-size: 1.3rem" in styles
    at.toggle(key="lesson_projector").set_value(False)
    at.run()
    assert query(at, "projector") is None and query(at, "part") == "2"
    assert "font-size: 1.3rem" not in " ".join(h.proto.body for h in at.get("html"))
