"""The gallery studies on the job engine: the jobs, combined, give value for value what the in-process functions give;
a run resumes where it stopped; a failed job writes nothing; the CLI writes the files the pages read."""

from __future__ import annotations

import json

import pytest
import torch

from mimi import analysis as A
from mimi.batch import gallery as G
from mimi.batch.engine import JOBS_DIR, run_study, study_status
from mimi.cli import main
from mimi.core.results import Result
from mimi.models import zoo
from tests.batch.test_study import without_times
from tests.conftest_app import make_zoo

MODELS = ["fmnist-standard", "fmnist-pgd-at"]
IMAGES = [0, 10, 21]
#: Small settings of each kind (the keyword arguments of its in-process function).
OPTIONS = {
    "population": {},
    "detection": dict(grid="3x3", pair_count=4, samples=2, contexts=1, attack={"steps": 2}, resamples=200,
                      successful_only=False),
    "recovery": dict(grid="3x3", samples=2, random_orders=2, min_utility=1e-6, attack={"steps": 2}),
    "strength": dict(grid="3x3", pair_count=4, samples=2),
}
#: DEFAULTS shrunk for the population's references (they read DEFAULTS when planned).
TINY_DEFAULTS = dict(grid="3x3", ratios=(0.2, 0.5, 1.0), pair_count=4, samples=2, contexts=1, steps=2)


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory):
    return make_zoo(tmp_path_factory.mktemp("gallery-zoo"))


@pytest.fixture
def tiny_defaults(monkeypatch):
    for key, value in TINY_DEFAULTS.items():
        monkeypatch.setitem(A.DEFAULTS, key, value)


def plain(result: Result) -> dict:
    """A result's JSON without wall times."""
    return without_times(json.loads(result.to_json()))


@pytest.mark.parametrize("kind", G.KINDS)
def test_the_jobs_combined_equal_the_in_process_study(kind, zoo_dir, tmp_path, tiny_defaults):
    plan = G.plan_gallery(kind, MODELS, IMAGES, seed=4, zoo_dir=zoo_dir, **OPTIONS[kind])
    expected_jobs = len(MODELS) * len(IMAGES)
    assert len(plan.jobs) == expected_jobs
    status = run_study(tmp_path / kind, plan, threads=torch.get_num_threads())
    assert (status.done, status.failed, status.ran) == (expected_jobs, 0, expected_jobs)
    collected = G.collect(tmp_path / kind)
    assert list(collected) == MODELS
    for name in MODELS:
        model, _ = zoo.load(name, "cpu", zoo_dir=zoo_dir)
        direct = G.run_in_process(kind, model, model_name=name, images=IMAGES, seed=4, device="cpu",
                                  **OPTIONS[kind])
        assert type(collected[name]).__name__ == G.RESULT_TYPES[kind]
        assert plain(collected[name]) == plain(direct)


def test_a_run_resumes_and_a_failed_job_writes_nothing(zoo_dir, tmp_path):
    options = OPTIONS["recovery"]
    plan = G.plan_gallery("recovery", MODELS[:1], IMAGES, seed=1, zoo_dir=zoo_dir, **options)
    folder = tmp_path / "recovery"
    first = run_study(folder, plan, limit=2)
    assert (first.done, first.left, first.complete) == (2, 1, False)
    with pytest.raises(ValueError, match="not complete .2 of 3 jobs done"):
        G.collect(folder)
    second = run_study(folder, plan)
    assert (second.ran, second.done, second.complete) == (1, 3, True)
    assert run_study(folder, plan).ran == 0                              # nothing left to do
    # A job whose image the model cannot take fails, is recorded, and the study is not complete.
    broken = G.plan_gallery("recovery", MODELS[:1], IMAGES, seed=1, zoo_dir=zoo_dir, **options)
    job = broken.jobs[0]
    broken.jobs[0] = G.GalleryJob(job.key, job.model, job.image, job.index, job.position, torch.zeros(1, 3, 3),
                                  job.label)
    status = run_study(tmp_path / "broken", broken)
    assert (status.failed, status.done) == (1, 2)
    assert "RuntimeError" in status.failures[0]["error"] or "ValueError" in status.failures[0]["error"]
    with pytest.raises(ValueError, match="1 failed"):
        G.collect(tmp_path / "broken")


def test_other_settings_in_the_folder_are_refused_and_job_files_are_checked(zoo_dir, tmp_path):
    plan = G.plan_gallery("strength", MODELS[:1], IMAGES, seed=1, zoo_dir=zoo_dir, **OPTIONS["strength"])
    run_study(tmp_path / "s", plan)
    other = G.plan_gallery("strength", MODELS[:1], IMAGES, seed=2, zoo_dir=zoo_dir, **OPTIONS["strength"])
    with pytest.raises(ValueError, match="different parameters .*seed: 1 -> 2"):
        run_study(tmp_path / "s", other)
    # A job file of another kind under this study's key is corrupt: set aside and recomputed.
    key = plan.jobs[0].key
    path = tmp_path / "s" / JOBS_DIR / f"{key}.json"
    record = json.loads(path.read_text())
    record["kind"] = "detection"
    path.write_text(json.dumps(record))
    assert study_status(tmp_path / "s").corrupted[0]["reason"] == "it is a detection job, not strength"
    assert run_study(tmp_path / "s", plan).ran == 1


def test_bad_settings_are_refused_before_any_job(zoo_dir):
    with pytest.raises(ValueError, match="min_utility must be a number > 0"):
        G.plan_gallery("recovery", MODELS, IMAGES, zoo_dir=zoo_dir, min_utility=0)
    with pytest.raises(ValueError, match="gallery image 100 does not exist"):
        G.plan_gallery("strength", MODELS, [0, 100], zoo_dir=zoo_dir)
    with pytest.raises(ValueError, match="take the dashboard's defaults, not grid"):
        G.plan_gallery("population", MODELS, IMAGES, zoo_dir=zoo_dir, grid="3x3")
    with pytest.raises(ValueError, match="unknown gallery study 'bogus'"):
        G.plan_gallery("bogus", MODELS, IMAGES, zoo_dir=zoo_dir)


def test_the_cli_resumes_in_its_work_folder_and_writes_what_the_pages_read(zoo_dir, tmp_path, capsys):
    out, work = tmp_path / "out", tmp_path / "work"
    args = ["defenses", "--models", MODELS[0], "--images", "0,10,21", "--only", "recovery", "--min-utility",
            "0.000001", "--random-orders", "2", "--out", str(out), "--work", str(work), "--zoo-dir", str(zoo_dir),
            "--device", "cpu", "--threads", "1"]
    assert main([*args, "--limit", "1"]) == 1                          # stopped early: nothing written
    assert "2 of 3 jobs not done; nothing written; run the same command again" in capsys.readouterr().err
    assert not G.study_file("recovery", MODELS[0], out).exists()
    assert main(args) == 0
    assert "recovery: fmnist-standard:" in capsys.readouterr().out
    written = G.load_study("recovery", MODELS[0], out)
    assert written.params["command"].startswith("mimi defenses") and list(written.images) == [0, 10, 21]
    assert study_status(work / "recovery").ran == 0 and study_status(work / "recovery").done == 3


@pytest.mark.parametrize("kind", G.KINDS)
def test_a_gallery_request_runs_the_study_and_plans_its_passes(kind, zoo_dir, tiny_defaults):
    model, _ = zoo.load(MODELS[0], "cpu", zoo_dir=zoo_dir)
    request = G.GalleryRequest(kind, tuple(IMAGES), seed=2, options=dict(OPTIONS[kind]))
    result = request.run(model, model_name=MODELS[0], device="cpu")
    direct = G.run_in_process(kind, model, model_name=MODELS[0], images=IMAGES, seed=2, device="cpu",
                              **OPTIONS[kind])
    assert plain(result) == plain(direct)
    assert request.planned_passes((1, 28, 28)) == result.forward_passes
