"""Studies on Ray: a local Ray with 2 CPUs gives bitwise the numbers of the in-process run, and an
unreachable cluster address ends with a clear message after the timeout, not a hang."""

from __future__ import annotations

import json
import socket
import time

import pytest

from mimi.batch.study import gallery_images, plan_study, run_study
from mimi.cli import main
from tests.batch.test_study import CLI_TINY, MODELS, TINY, numbers, without_times
from tests.conftest_app import make_zoo

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory):
    return make_zoo(tmp_path_factory.mktemp("ray-zoo"))


def test_local_ray_with_two_cpus_gives_the_in_process_numbers(zoo_dir, tmp_path):
    plan = plan_study(MODELS, gallery_images([0, 10]), TINY, seed=5, zoo_dir=zoo_dir)
    in_process = run_study(tmp_path / "here", plan)
    on_ray = run_study(tmp_path / "ray", plan, ray="local", num_cpus=2)
    assert (in_process.done, on_ray.done, on_ray.ran) == (4, 4, 4)
    assert numbers(tmp_path / "ray") == numbers(tmp_path / "here")
    assert not ray.is_initialized()                                  # shut down after the run
    assert run_study(tmp_path / "ray", plan).ran == 0                # Ray's results resume in-process too


def test_a_gallery_study_on_local_ray_gives_the_in_process_result(zoo_dir, tmp_path):
    """The gallery studies run on the same engine: their runner and jobs travel to Ray workers and back."""
    from mimi.batch import gallery

    options = dict(grid="3x3", pair_count=4, samples=2)
    plan = gallery.plan_gallery("strength", MODELS, [0, 10], seed=5, zoo_dir=zoo_dir, **options)
    in_process = run_study(tmp_path / "here", plan)
    on_ray = run_study(tmp_path / "ray", plan, ray="local", num_cpus=2)
    assert (in_process.done, on_ray.done, on_ray.ran) == (4, 4, 4)
    here, there = gallery.collect(tmp_path / "here"), gallery.collect(tmp_path / "ray")
    for name in MODELS:
        assert without_times(json.loads(there[name].to_json())) == without_times(json.loads(here[name].to_json()))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("address", ["10.255.255.1:6379", "127.0.0.1:{port}"])
def test_an_unreachable_ray_address_fails_fast_with_a_clear_message(zoo_dir, tmp_path, capsys, address):
    """A silent address (packets dropped) waits for the timeout; a closed port is refused at once."""
    address = address.format(port=closed_port())
    start = time.perf_counter()
    code = main(["study", "run", "--models", MODELS[0], "--images", "gallery:0,10", "--zoo-dir", str(zoo_dir),
                 "--out", str(tmp_path / "s"), "--ray", address, "--ray-timeout", "2", *CLI_TINY])
    seconds = time.perf_counter() - start
    err = capsys.readouterr().err
    assert code == 2 and f"cannot reach a Ray cluster at {address} within 2 s" in err and "ray start --head" in err
    assert seconds < 30 and not (tmp_path / "s" / "study.json").exists()   # nothing written


@pytest.mark.slow
def test_bench_section_measures_both_runners_and_checks_they_agree():
    from mimi.bench import study

    section = study.run(quick=True)
    rows = {metric: value for metric, value, _ in section["rows"]}
    assert rows["study: jobs (images x 2 models)"] == 8
    assert rows["study: in-process, 1 thread [jobs/s]"] > 0 and rows["study: Ray, 2 workers [jobs/s]"] > 0
    assert rows["study: Ray and in-process give the same result files"] is True
