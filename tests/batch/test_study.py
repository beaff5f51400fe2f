"""Studies: job keys and seeds, resuming after an interrupt, failures, corrupt files, refused folders,
images a model cannot take, the report's statistics and verdicts, the CLI, and the /study page."""

from __future__ import annotations

import dataclasses
import json
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mimi import analysis
from mimi.analysis import requests
from mimi.batch.engine import prepare_folder, read_manifest, read_outcome, result_path, write_atomic
from mimi.batch.study import (STUDY_DIR, StudyJobResult, StudyMismatch, StudyParams, build_report, folder_images,
                              gallery_images, plan_study, run_study, study_status)
from mimi.batch.study.claims import claim_a, claim_b, claim_c
from mimi.batch.study.plan import StudyImage, job_key, study_image_seed
from mimi.batch.study.report import StudyReport
from mimi.batch.study.stats import claim_verdict, verdict
from mimi.cli import main
from mimi.core.stats import t_quantile
from mimi.figures.report_page import image_rows, report_html
from tests.app.test_browser import CHROMIUM, browser, new_page, problems, server, wait_until_idle  # noqa: F401
from tests.conftest_app import ROOT, app_env, app_test, errors, make_zoo, test_zoo  # noqa: F401  (fixtures)

#: A study that runs in a few seconds: 4x4 grid (16 players), coarse orders, 4 pairs, 3 PGD steps.
TINY = StudyParams(steps=3, grid="4x4", ratios=(0.1, 0.3, 0.5, 0.7, 0.9, 1.0), pair_count=4, samples=2, contexts=1,
                   shapley_samples=2, d_samples=2, d_pair_count=4)
MODELS = ["fmnist-standard", "fmnist-pgd-at"]
IMAGES = [0, 10, 20, 30]
CLI_TINY = ["--grid", "4x4", "--ratios", "0.1,0.3,0.5,0.7,0.9,1", "--pair-count", "4", "--shapley-samples", "2",
            "--d-samples", "2", "--d-pair-count", "4", "--steps", "3", "--quiet"]


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory) -> Path:
    return make_zoo(tmp_path_factory.mktemp("study-zoo"))


@pytest.fixture(scope="module")
def plan(zoo_dir):
    return plan_study(MODELS, gallery_images(IMAGES), TINY, seed=3, images_description="4 gallery images",
                      zoo_dir=zoo_dir)


@pytest.fixture(scope="module")
def half_plan(zoo_dir):
    """Two of the images: its jobs are jobs of ``plan`` (a key does not depend on the other images)."""
    return plan_study(MODELS, gallery_images(IMAGES[:2]), TINY, seed=3, zoo_dir=zoo_dir)


@pytest.fixture(scope="module")
def complete(plan, tmp_path_factory) -> Path:
    """The study run once, uninterrupted, in-process."""
    folder = tmp_path_factory.mktemp("complete")
    status = run_study(folder, plan)
    assert (status.done, status.failed, status.left, status.ran) == (8, 0, 0, 8)
    return folder


def without_times(value):
    """A result's JSON without wall times (the only numbers that differ between identical runs)."""
    if isinstance(value, dict):
        return {k: without_times(v) for k, v in value.items() if k != "wall_time_s"}
    if isinstance(value, list):
        return [without_times(v) for v in value]
    return value


def numbers(folder: Path) -> dict:
    return {p.name: without_times(json.loads(p.read_text())) for p in sorted((folder / "jobs").glob("*.json"))}


def same_as_complete(folder: Path, complete: Path, jobs: int) -> bool:
    """The result files of ``folder`` (``jobs`` of them) equal those of the uninterrupted run, number for number."""
    found, reference = numbers(folder), numbers(complete)
    return len(found) == jobs and found == {name: reference[name] for name in found}


def report_numbers(folder: Path) -> dict:
    data = json.loads(build_report(folder).to_json())
    return without_times({k: v for k, v in data.items() if k not in ("folder", "status")})


# --------------------------------------------------------------------------- keys, seeds, order
def test_job_keys_hash_every_input_and_seeds_follow_the_image(plan):
    image = plan.jobs[0].image
    settings = TINY.as_dict()
    key = job_key("m", "a" * 64, image, settings, 3)
    assert key == job_key("m", "a" * 64, image, dict(settings), 3)
    assert len({key, job_key("m", "b" * 64, image, settings, 3), job_key("m", "a" * 64, image, settings, 4),
                job_key("m", "a" * 64, image, {**settings, "eps": 0.2}, 3),
                job_key("m", "a" * 64, plan.jobs[2].image, settings, 3), job_key("n", "a" * 64, image, settings, 3)}) == 6
    by_image = {}
    for job in plan.jobs:
        by_image.setdefault(job.image.source, set()).add(job.seed)
        assert job.seed == study_image_seed(3, job.image.sha256) < 2 ** 31
    assert all(len(seeds) == 1 for seeds in by_image.values())        # both models share the image's draws
    assert len({s for seeds in by_image.values() for s in seeds}) == len(IMAGES)
    assert [j.image.source for j in plan.jobs[:2]] == ["gallery:0", "gallery:0"]


def test_results_do_not_depend_on_the_order_of_the_jobs(half_plan, complete, tmp_path):
    run_study(tmp_path, dataclasses.replace(half_plan, jobs=list(reversed(half_plan.jobs))))
    assert same_as_complete(tmp_path, complete, 4)


# --------------------------------------------------------------------------- resuming
def test_an_interrupted_study_resumes_to_the_same_numbers(half_plan, complete, tmp_path, monkeypatch):
    real, calls = requests.interaction_profile, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C in the middle of the third job
        return real(*args, **kwargs)

    monkeypatch.setattr(requests, "interaction_profile", interrupted)   # what a job's ProfileRequest runs
    with pytest.raises(KeyboardInterrupt):
        run_study(tmp_path / "s", half_plan)
    status = study_status(tmp_path / "s")
    assert (status.done, status.failed, status.left) == (2, 0, 2)
    assert not list((tmp_path / "s" / "jobs").glob(".*.tmp"))       # nothing half-written
    monkeypatch.setattr(requests, "interaction_profile", real)
    resumed = run_study(tmp_path / "s", half_plan)
    assert (resumed.ran, resumed.done, resumed.left) == (2, 4, 0)    # only the missing jobs ran
    assert same_as_complete(tmp_path / "s", complete, 4)
    prepare_folder(tmp_path / "reference", half_plan.manifest)      # the uninterrupted run's files, same study
    for job in half_plan.jobs:
        shutil.copy(result_path(complete, job.key), result_path(tmp_path / "reference", job.key))
    assert report_numbers(tmp_path / "s") == report_numbers(tmp_path / "reference")


def test_a_limited_run_then_a_full_one_equals_one_run(half_plan, complete, tmp_path):
    first = run_study(tmp_path, half_plan, limit=3)
    assert (first.ran, first.done, first.left) == (3, 3, 1)
    assert run_study(tmp_path, half_plan).ran == 1
    assert run_study(tmp_path, half_plan).ran == 0                  # nothing left to do
    assert same_as_complete(tmp_path, complete, 4)


def test_a_failing_job_is_recorded_and_the_others_run(half_plan, complete, tmp_path, monkeypatch):
    real = requests.interaction_profile

    def broken(game, **kwargs):
        if game.label == 1:   # gallery:10, a trouser
            raise RuntimeError("out of memory (simulated)")
        return real(game, **kwargs)

    monkeypatch.setattr(requests, "interaction_profile", broken)
    status = run_study(tmp_path, half_plan)
    assert (status.done, status.failed, status.left) == (2, 2, 0)
    assert {(f["image"], f["error"]) for f in status.failures} == {("gallery:10", "RuntimeError: out of memory (simulated)")}
    assert "failed: fmnist-standard on gallery:10: RuntimeError" in status.summary()
    monkeypatch.setattr(requests, "interaction_profile", real)
    retried = run_study(tmp_path, half_plan)                        # a rerun retries the failed jobs
    assert (retried.ran, retried.done, retried.failed) == (2, 4, 0)
    assert same_as_complete(tmp_path, complete, 4)


def test_a_corrupted_result_file_is_recomputed_and_reported(plan, complete, tmp_path):
    shutil.copytree(complete, tmp_path / "s")
    folder = tmp_path / "s"
    victim = result_path(folder, plan.jobs[5].key)
    victim.write_text(victim.read_text()[:300])                     # truncated, e.g. a full disk
    status = study_status(folder)
    assert (status.done, status.left) == (7, 1) and "unreadable" in status.corrupted[0]["reason"]
    lines = []
    rerun = run_study(folder, plan, log=lines.append)
    assert rerun.ran == 1 and rerun.corrupted[0]["file"] == f"jobs/{victim.name}"
    assert any("corrupted result file" in line and "recomputing" in line for line in lines)
    assert victim.with_name(victim.name + ".corrupt").exists()      # kept for inspection
    assert numbers(folder) == numbers(complete)


def test_another_jobs_result_under_a_key_is_corrupt(plan, complete, tmp_path):
    text = result_path(complete, plan.jobs[0].key).read_text()
    path = tmp_path / "x.json"
    write_atomic(path, text)
    assert isinstance(read_outcome(path, plan.jobs[0].key, plan.manifest), StudyJobResult)
    with pytest.raises(ValueError, match="holds job"):
        read_outcome(path, plan.jobs[1].key, plan.manifest)


def test_a_folder_with_other_parameters_is_refused_unless_forced(zoo_dir, complete, tmp_path):
    shutil.copytree(complete, tmp_path / "s")
    other = plan_study(MODELS, gallery_images(IMAGES), dataclasses.replace(TINY, eps=0.2), seed=3,
                       images_description="4 gallery images", zoo_dir=zoo_dir)
    with pytest.raises(StudyMismatch, match=r"different parameters \(eps: 0.1 -> 0.2\).*--force"):
        run_study(tmp_path / "s", other, limit=1)
    status = run_study(tmp_path / "s", other, force=True, limit=1)
    assert (status.ran, status.done, status.orphans) == (1, 1, 8)   # the old results are kept, not reused


def test_images_a_model_cannot_take_are_listed_and_skipped(zoo_dir, tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8), mode="L").save(tmp_path / "a-gray.png")
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), mode="RGB").save(tmp_path / "b-colour.png")
    (tmp_path / "labels.json").write_text(json.dumps({"a-gray.png": 3}))
    images = folder_images(tmp_path)
    assert [(i.source, i.label, tuple(i.pixels.shape)) for i in images] == [("a-gray.png", 3, (1, 28, 28)),
                                                                             ("b-colour.png", None, (3, 32, 32))]
    plan = plan_study(MODELS, images, TINY, zoo_dir=zoo_dir)
    assert [(j.model, j.image.source) for j in plan.jobs] == [(m, "a-gray.png") for m in MODELS]
    assert [(s["model"], s["image"]) for s in plan.manifest.skipped] == [(m, "b-colour.png") for m in MODELS]
    assert "cannot take a 3x32x32 image" in plan.manifest.skipped[0]["reason"]


def test_image_sources_carry_their_labels_and_hashes(tiny_fmnist):
    from mimi.batch.study import dataset_images
    from mimi.data.datasets import load_fashion_mnist

    test = load_fashion_mnist("test", tiny_fmnist)
    images = dataset_images([3, 0], tiny_fmnist)
    assert [(i.source, i.label) for i in images] == [("dataset:3", int(test.labels[3])), ("dataset:0", int(test.labels[0]))]
    assert torch.equal(images[0].pixels, test.images[3]) and images[0].sha256 != images[1].sha256
    with pytest.raises(ValueError, match="test image 40 does not exist: the test set has 40 images"):
        dataset_images([40], tiny_fmnist)
    with pytest.raises(ValueError, match="gallery image 100 does not exist"):
        gallery_images([100])


def test_settings_are_checked_before_any_work(zoo_dir):
    with pytest.raises(ValueError, match="samples must be an integer in 2..1024, got 1"):
        plan_study(MODELS, gallery_images([0]), dataclasses.replace(TINY, samples=1), zoo_dir=zoo_dir)
    with pytest.raises(ValueError, match="unknown norm 'l3'"):
        plan_study(MODELS, gallery_images([0]), dataclasses.replace(TINY, norm="l3"), zoo_dir=zoo_dir)


# --------------------------------------------------------------------------- statistics and verdicts
def test_verdict_rules():
    assert (verdict(0.1, 2), verdict(-2, -0.1), verdict(-1, 1), verdict(np.nan, np.nan)) == \
        ("holds", "does not hold", "undecided", "undecided")
    assert claim_verdict(["holds", "holds"]) == "holds"
    assert claim_verdict(["holds", "does not hold"]) == "does not hold"
    assert claim_verdict(["holds", "undecided"]) == "undecided"
    assert claim_verdict([]) == "undecided"


def synthetic(complete: Path, folder: Path) -> Path:
    """The tiny study with its numbers replaced by known effects (orders r = 0.1, 0.3 low; 0.7, 0.9, 1 high):

    (a) the squared change S and the drop Ī(x) - Ī(x') are 1 + e_b on the high orders and 0 on the low ones,
        e = (-0.1, 0, 0.1, 0): holds;
    (b) ΔJ is 2 on the high orders for fmnist-pgd-at and 1.5 + e_b for fmnist-standard: does not hold;
    (c) D numerators 0.5 (standard) and 0.5 + (0.01, -0.01, 0.02, -0.02) (AT), denominators 1: effect 0, undecided."""
    shutil.copytree(complete, folder)
    noise = {"gallery:0": -0.1, "gallery:10": 0.0, "gallery:20": 0.1, "gallery:30": 0.0}
    wiggle = {"gallery:0": 0.01, "gallery:10": -0.01, "gallery:20": 0.02, "gallery:30": -0.02}
    high = np.array([0, 0, 0, 1, 1, 1], dtype=float)
    for path in (folder / "jobs").glob("*.json"):
        result = StudyJobResult.from_json(path.read_text())
        e, standard = noise[result.image], result.model == "fmnist-standard"
        delta_j = high * (1.5 + e if standard else 2.0)
        old = result.profile
        difference = analysis.Estimated(high * (1 + e), old.interaction.difference.se)
        profile = dataclasses.replace(old, interaction=dataclasses.replace(old.interaction, difference=difference),
                                      utility_by_order=analysis.Estimated(delta_j, old.utility_by_order.se),
                                      squared_change=analysis.Estimated(high * (1 + e), old.squared_change.se))
        d = result.disentanglement
        numerator = np.full(5, 0.5) + (0 if standard else wiggle[result.image])
        d = dataclasses.replace(d, numerator=numerator, numerator_plugin=numerator, denominator=np.ones(5))
        write_atomic(path, dataclasses.replace(result, profile=profile, disentanglement=d).to_json())
    return folder


def test_report_verdicts_on_a_synthetic_study_with_known_effects(complete, tmp_path):
    report = build_report(synthetic(complete, tmp_path / "s"))
    a, b, c = report.claims
    half = t_quantile(1 - 0.05 / 2, 3) * np.std([-0.1, 0, 0.1, 0], ddof=1) / 2   # one normally trained model
    assert [(c.label, c.primary) for c in a.comparisons] == [
        ("fmnist-standard", True), ("fmnist-pgd-at", False), ("fmnist-standard", False), ("fmnist-pgd-at", False)]
    for comparison in a.comparisons:   # the AT model and the signed drop beside, at the primary rows' level
        assert comparison.effect == pytest.approx(1.0) and comparison.confidence == pytest.approx(0.95)
        assert (comparison.ci_low, comparison.ci_high) == pytest.approx((1 - half, 1 + half))
        assert comparison.verdict == "holds" and comparison.images_needed is None
    assert a.verdict == "holds"
    (only_b,) = b.primary
    assert [c.primary for c in b.comparisons] == [True, False]
    assert only_b.label == "fmnist-standard − fmnist-pgd-at" and only_b.effect == pytest.approx(-0.5)
    assert only_b.relative == pytest.approx(-1 / 3) and only_b.ci_high < 0
    assert (only_b.verdict, b.verdict) == ("does not hold", "does not hold")
    assert "fixed budget" in b.note
    (only_c,) = c.comparisons
    assert only_c.effect == pytest.approx(0.0, abs=1e-12) and only_c.ci_low < 0 < only_c.ci_high
    assert (only_c.verdict, c.verdict) == ("undecided", "undecided")
    assert only_c.images_needed == 1_000_000   # an effect of 0: no number of images gives it power
    d = report.models["fmnist-pgd-at"].disentanglement
    assert d.d == pytest.approx(np.full(5, 0.5)) and d.count == 4
    back = StudyReport.from_json(report.to_json())                            # every number round-trips
    assert back.claims[1].comparisons[0].effect == only_b.effect
    assert np.array_equal(back.models["fmnist-standard"].delta_j.per_image,
                          report.models["fmnist-standard"].delta_j.per_image)
    html = report_html(report)
    assert html.count("<script") >= 4 and "does not hold" in html and "<script src=" not in html  # offline


def test_claims_without_a_standard_and_at_pair_are_undecided(complete):
    report = build_report(complete)
    only_standard = {"fmnist-standard": report.models["fmnist-standard"]}
    assert claim_a(only_standard).comparisons[0].label == "fmnist-standard"
    for claim in (claim_b(only_standard, report.params), claim_c(only_standard)):
        assert claim.verdict == "undecided" and not claim.comparisons
        assert "no adversarially trained model" in claim.note


def test_report_summaries_across_images(complete):
    report = build_report(complete)
    standard = report.models["fmnist-standard"]
    values = standard.delta_j.per_image
    assert values.shape == (4, 6) and standard.images == ["gallery:0", "gallery:10", "gallery:20", "gallery:30"]
    half = t_quantile(0.975, 3) * values.std(axis=0, ddof=1) / 2
    assert np.allclose(standard.delta_j.ci_high - standard.delta_j.mean, half)
    d = standard.disentanglement
    assert np.allclose(d.d, d.numerator.sum(0) / d.denominator.sum(0))
    leave_out = (d.numerator.sum(0) - d.numerator) / (d.denominator.sum(0) - d.denominator)
    assert np.allclose(d.d_se, np.sqrt(3 / 4 * ((leave_out - leave_out.mean(0)) ** 2).sum(0)))


# --------------------------------------------------------------------------- CLI
def cli(args, capsys):
    code = main(["study", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_run_status_report_and_its_error_messages(zoo_dir, tmp_path, capsys):
    out = tmp_path / "s"
    base = ["run", "--models", ",".join(MODELS), "--images", "gallery:0,10", "--zoo-dir", str(zoo_dir),
            "--out", str(out), *CLI_TINY]
    code, stdout, stderr = cli(base, capsys)
    assert code == 0 and "4 jobs: 4 done, 0 failed, 0 left" in stdout
    assert "4 jobs (2 images x 2 models)" in stderr
    code, stdout, _ = cli(["status", str(out)], capsys)
    assert code == 0 and "4 done" in stdout
    code, stdout, stderr = cli([*base[:-1], "--eps", "0.3", "--quiet"], capsys)
    assert code == 2 and "holds a study with different parameters (eps: 0.1 -> 0.3)" in stderr and "--force" in stderr
    victim = next((out / "jobs").glob("*.json"))
    victim.write_text("{not json")
    code, stdout, stderr = cli(base, capsys)
    assert code == 0 and f"corrupted result file jobs/{victim.name}" in stderr and "recomputing it" in stderr
    assert "ran 1 jobs" in stdout
    code, stdout, _ = cli(["report", str(out), "--html", str(tmp_path / "r.html"), "--json", str(tmp_path / "r.json")],
                          capsys)
    assert code == 0 and "claim (a)" in stdout and (tmp_path / "r.html").stat().st_size > 1_000_000
    assert isinstance(StudyReport.from_json((tmp_path / "r.json").read_text()), StudyReport)
    code, _, stderr = cli(["status", str(tmp_path / "nothing")], capsys)
    assert code == 2 and "holds no study" in stderr


def test_cli_lists_and_skips_images_of_the_wrong_shape(zoo_dir, tmp_path, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(np.zeros((28, 28), dtype=np.uint8), mode="L").save(folder / "ok.png")
    Image.fromarray(np.zeros((64, 64), dtype=np.uint8), mode="L").save(folder / "big.png")
    code, stdout, stderr = cli(["run", "--models", "fmnist-standard", "--images", str(folder), "--zoo-dir",
                                str(zoo_dir), "--out", str(tmp_path / "s"), *CLI_TINY], capsys)
    assert code == 0 and "skipped big.png on fmnist-standard" in stderr and "1 jobs: 1 done" in stdout
    code, _, stderr = cli(["run", "--models", "fmnist-standard", "--images", "gallery:x", "--zoo-dir", str(zoo_dir),
                           "--out", str(tmp_path / "t")], capsys)
    assert code == 2 and "--images takes a count" in stderr


# --------------------------------------------------------------------------- dashboard
def test_the_dashboard_side_never_imports_ray():
    code = ("import sys, mimi.batch.study.report, mimi.figures.study, mimi.ui.study, mimi.batch.study; "
            "print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_study_page_shows_the_claims_figures_and_image_links(app_env, complete):
    at = app_test("views/study.py")
    at.text_input(key="study_folder").set_value(str(complete)).run()
    assert not errors(at)
    claims, models, images = at.dataframe
    # (a): the standard model, the AT model's squared change and both signed drops beside; (b): the pair and its
    # utility share beside; (c): the pair
    assert list(claims.value["test"]) == ["primary", "beside", "beside", "beside", "primary", "beside", "primary"]
    assert set(claims.value["verdict"]) <= {"holds", "does not hold", "undecided"}
    assert len(images.value) == 8
    row = images.value[images.value["image"] == "gallery:10"].iloc[0]
    link = row["interactions"]
    assert link.startswith("./interactions?") and "img=10" in link and f"a={row['model']}" in link
    assert "grid=4x4" in link and "pcount=4" in link and "seed=" in link
    assert len(at.get("plotly_chart")) == 5   # claims, I, S (the squared change), ΔJ, D
    at.text_input(key="study_folder").set_value(str(complete / "jobs")).run()
    assert "holds no study" in " ".join(e.value for e in at.error)


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install chromium)")
@pytest.mark.skipif(not (STUDY_DIR / "study.json").exists(), reason="no shipped study in assets/study")
def test_study_page_in_a_real_browser_opens_an_image_in_the_single_image_pages(server, browser, complete, tmp_path):
    """The shipped study renders on /study with its verdicts; a gallery study's image link opens /interactions on
    that image (the shipped study's Fashion-MNIST test images have no gallery index, so no link)."""
    from mimi.ui.study import image_link

    report = build_report(STUDY_DIR)
    gallery_study = build_report(complete)
    row = next(r for r in image_rows(gallery_study) if r["gallery_index"] > 0)
    page = new_page(browser, 1440, 1800)
    try:
        page.goto(f"{server}/study", wait_until="domcontentloaded")
        wait_until_idle(page, 5)
        assert problems(page) == []
        text = page.inner_text("body")
        value = report.params["value"]
        assert "The paper's claims" in text and all(f"→ {claim.verdict} (v = {value})" in text
                                                    for claim in report.claims)
        page.screenshot(path=str(tmp_path / "study.png"), full_page=True)
        link = image_link(gallery_study.params, "interactions", row["model"], None, row["gallery_index"], row["seed"])
        page.goto(f"{server}/{link[2:]}", wait_until="domcontentloaded")
        wait_until_idle(page, 2)
        assert problems(page) == [] and f"gallery #{row['gallery_index']}" in page.inner_text("body")
    finally:
        page.close()


def test_a_study_image_owns_its_pixels_so_a_job_never_carries_the_data_set():
    data_set = torch.rand(500, 1, 28, 28)
    image = StudyImage.make("dataset:3", data_set[3], 1)
    assert torch.equal(image.pixels, data_set[3])
    assert image.pixels.untyped_storage().nbytes() == 28 * 28 * 4     # not the 500 images' storage
    assert len(pickle.dumps(image)) < 20_000


def test_an_equal_strength_study_lands_or_lists_every_image_and_survives_an_unreachable_u(zoo_dir, tmp_path, capsys):
    """At a reachable U every image that landed took a gradient step and sits in [U, U + tol], with both value
    functions from the same forward passes; at a U no image reaches, every job is written (attack only), the
    report says so and the claims say there is nothing to compare."""
    reachable = dataclasses.replace(TINY, eps=0.3, steps=20, step_size=0.02, stop_utility=1.0, tolerance=0.05,
                                    twin_value="log-softmax")
    plan = plan_study(MODELS, gallery_images(IMAGES[:2]), reachable, seed=3, zoo_dir=zoo_dir)
    run_study(tmp_path / "ok", plan)
    report = build_report(tmp_path / "ok")
    for name, m in report.models.items():
        assert m.count + len(m.not_landed) == m.attacked == 2
        assert ((m.utility.per_image >= 1.0) & (m.utility.per_image <= 1.05)).all() and (m.steps_used >= 1).all()
        assert report.twin_models[name].count == m.count and report.twin_models[name].value == "log-softmax"
    assert [c.key for c in report.twin_claims] == ["a", "b", "c"]
    code, out, _ = cli(["run", "--models", ",".join(MODELS), "--images", "gallery:0,10", "--zoo-dir", str(zoo_dir),
                        "--out", str(tmp_path / "none"), *CLI_TINY, "--stop-utility", "1000"], capsys)
    assert code == 0
    unreachable = build_report(tmp_path / "none")
    assert unreachable.status.done == 4 and not unreachable.models
    assert all(f"no attack on {name} landed at U = 1000.0" in " ".join(unreachable.notes) for name in MODELS)
    assert all(claim.verdict == "undecided" and not claim.comparisons for claim in unreachable.claims)
    for bad, message in ((["--tolerance", "0"], "tolerance must be a finite number > 0, got 0.0"),
                         (["--stop-utility", "-1"], "stop_utility must be a finite number > 0, got -1.0")):
        extra = bad if bad[0] == "--stop-utility" else ["--stop-utility", "2", *bad]
        code, out, err = cli(["run", "--models", MODELS[0], "--images", "gallery:0,10", "--zoo-dir", str(zoo_dir),
                              "--out", str(tmp_path / "bad"), *CLI_TINY, *extra], capsys)
        assert code != 0 and message in err + out


def test_cli_time_budget_fits_the_design_keeps_the_budget_and_resumes_with_it(zoo_dir, tmp_path, capsys):
    out = tmp_path / "budgeted"
    base = ["run", "--models", MODELS[0], "--images", "gallery:0,10,20,30", "--zoo-dir", str(zoo_dir),
            "--out", str(out), "--quiet"]
    code, stdout, stderr = cli([*base, "--time-budget", "4"], capsys)
    assert code == 0 and "fitted to the 4 s budget" in stderr
    ran = float(stdout.split("ran 4 jobs in ")[1].split(" s")[0])
    assert ran <= 1.5 * 4, stdout
    recorded = read_manifest(out).params
    assert recorded["pair_count"] < StudyParams().pair_count       # the default design does not fit 4 s
    code, _, stderr = cli([*base, "--time-budget", "1000"], capsys)   # the folder's design, not a new fit
    assert code == 0 and "resuming" in stderr and read_manifest(out).params == recorded
    code, _, stderr = cli([*base, "--out", str(tmp_path / "tiny"), "--time-budget", "0.001"], capsys)
    assert code != 0 and "too small for this study" in stderr and "give at least" in stderr
    assert not (tmp_path / "tiny" / "study.json").exists()            # nothing computed for nothing
    for bad in ("0", "-1", "soon"):
        with pytest.raises(SystemExit):
            cli([*base, "--time-budget", bad], capsys)
        assert "number of seconds > 0" in capsys.readouterr().err
