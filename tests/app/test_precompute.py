"""The store of precomputed results (mimi.core.store) and `mimi precompute`: every result type the pages
compute reads back from the store; a page at a stored request draws its charts without computing, probing or
asking "Run it"; a missing or corrupt file falls back to computing with the usual estimate."""

from __future__ import annotations

import gzip
import logging

import numpy as np
import pytest
import torch

from mimi.core import store as precomputed
from tests.conftest_app import FAST, app_env, app_test, errors, test_zoo  # noqa: F401  (fixtures)

PAGES = "attack,interactions,pairs"
IMAGE = "3"


@pytest.fixture(scope="module")
def results():
    """One result of every type that the pages pass through compute(), on a seeded untrained model."""
    from mimi.analysis import (decomposition, disentanglement, image_game, interaction_profile, pair_heatmap,
                               run_attack, shapley_map)
    from mimi.batch.gallery import run_in_process
    from mimi.core.compute import freeze
    from mimi.data.datasets import load_gallery
    from mimi.defenses.detection import leave_one_out_map
    from mimi.defenses.recovery import recovery_curve
    from mimi.models.networks import SmallCNN

    torch.manual_seed(0)
    net = freeze(SmallCNN())
    gallery = load_gallery()
    x, label = gallery.images[0], int(gallery.labels[0])
    attack = run_attack(net, x, label, eps=0.3, steps=5, stop_utility=None)
    adv = attack.x_adv[0].cpu()
    small = dict(grid="2x2", baseline="mean", value="log-odds")
    attack_options = dict(eps=0.3, steps=3, step_size=None, norm="linf", restarts=1, stop_utility=None)
    return {
        "attack": attack,
        "profile": interaction_profile(image_game(net, x, label, adv, grid="3x3"), ratios=(0.0, 1.0), samples=2,
                                       pair_count=2),
        "heatmap": pair_heatmap(image_game(net, x, label, adv, grid="3x3"), 0, ratios=(0.5,), samples=2),
        "shapley": shapley_map(image_game(net, x, label, grid="3x3"), samples=2),
        "decomposition": decomposition(image_game(net, x, label, adv, grid="2x2")),
        "disentanglement": disentanglement(net, gallery.images[:2], gallery.labels[:2].tolist(), grid="3x3",
                                           samples=2, pair_count=2),
        "leave_one_out": leave_one_out_map(net, x, adv, label=label, **small),
        "recovery": recovery_curve(net, x, label, adv, grid="2x2", samples=2, random_orders=2),
        "detection_study": run_in_process("detection", net, model_name="m", images=[0, 1], attack=attack_options,
                                     pairs="neighbors", samples=2, successful_only=False, **small),
        "recovery_study": run_in_process("recovery", net, model_name="m", images=[0, 1], attack=attack_options, samples=2,
                                    random_orders=2, min_utility=1e-9, **small),
    }


@pytest.mark.parametrize("name", ["attack", "profile", "heatmap", "shapley", "decomposition", "disentanglement",
                                  "leave_one_out", "recovery", "detection_study", "recovery_study"])
def test_every_result_type_reads_back_from_the_store(results, name):
    original = results[name]
    data = precomputed.encode("k" * 64, name, original)
    back = precomputed.decode("k" * 64, data)
    assert type(back) is type(original) and precomputed.same(original, back)
    assert len(data) < len(original.to_json()) / 2    # compressed, float64 arrays as float32


def test_tensors_read_back_bit_for_bit_and_float64_arrays_at_float32_precision(results):
    from mimi.ui.gate import content_key

    attack, profile = results["attack"], results["profile"]
    back = precomputed.decode("k", precomputed.encode("k", "PGD attack", attack))
    assert content_key(back.x_adv) == content_key(attack.x_adv)     # it keys the computations that use x'
    mean = profile.interaction.clean.mean
    read = precomputed.decode("k", precomputed.encode("k", "profile", profile)).interaction.clean.mean
    assert read.dtype == np.float64 and np.array_equal(read, mean.astype(np.float32).astype(np.float64))
    assert not precomputed.same(mean, mean + 1e-5 * np.abs(mean).max())


def test_containers_keep_their_types_and_a_value_without_a_round_trip_is_not_stored(results, tmp_path, monkeypatch):
    monkeypatch.setenv(precomputed.DIR_ENV, str(tmp_path))
    pair = (results["shapley"], {"n": 3, "ratios": [0.5, 1.0]}, None)
    back = precomputed.decode("k", precomputed.encode("k", "pair", pair))
    assert isinstance(back, tuple) and precomputed.same(pair, back)
    assert not precomputed.same(pair, (pair[0], {"n": 3, "ratios": (0.5, 1.0)}, None))
    assert precomputed.save("a" * 64, "a set", {1, 2}) is False and not list(tmp_path.rglob("*.gz"))
    assert precomputed.save("b" * 64, "a pair", pair) is True
    assert precomputed.same(pair, precomputed.load("b" * 64))
    assert precomputed.load("c" * 64) is precomputed.MISSING


def test_every_page_of_the_app_is_precomputed_or_said_not_to_need_it():
    from mimi.cli.precompute import NOT_PRECOMPUTED, PAGES, app_pages

    pages = app_pages()
    assert {"", "attack", "interactions", "lesson"} <= set(pages)
    assert set(pages) <= set(PAGES) | set(NOT_PRECOMPUTED)


@pytest.fixture(scope="module")
def store(tmp_path_factory, test_zoo):
    """`mimi precompute` of one gallery image on the tiny zoo (small settings through --query): the store folder."""
    from mimi.cli import main

    out = tmp_path_factory.mktemp("store")
    query = ",".join(f"{k}={v}" for k, v in FAST.items())
    with pytest.MonkeyPatch.context() as mp:   # the command sets these for its own process: restore them
        for name in (precomputed.DIR_ENV, precomputed.RECORD_ENV, "MIMI_ZOO_DIR", "MIMI_CONFIRM_SECONDS"):
            mp.setenv(name, "")
        mp.setenv("MIMI_DEVICE", "cpu")
        torch.set_num_threads(1)
        assert main(["precompute", "--images", IMAGE, "--pages", PAGES, "--query", query, "--zoo-dir", str(test_zoo),
                     "--out", str(out)]) == 0
    return out


def fresh_server(monkeypatch, folder, computing_fails: bool, confirm_seconds: str = "0") -> None:
    """A cold server (no cached results, models or speed probes) reading the store ``folder``, asking "Run it"
    above ``confirm_seconds`` (0: for anything estimated); when ``computing_fails`` any computation or speed
    probe is an error on the page, but for the rounds that refine an order profile after its first (stored) one
    (queued at the gate's refining priority), which the store never holds."""
    import streamlit as st

    from mimi.ui import compute, refine

    st.cache_resource.clear()
    monkeypatch.setenv(precomputed.DIR_ENV, str(folder))
    monkeypatch.setenv("MIMI_CONFIRM_SECONDS", confirm_seconds)
    if computing_fails:
        def fail(*args, **kwargs):
            raise AssertionError("computed, not read from the store")

        run = compute.ComputeGate.run

        def refining_only(gate, key, fn, on_wait=None, priority=0):
            if priority != refine.REFINING:
                fail()
            return run(gate, key, fn, on_wait, priority)

        monkeypatch.setattr(compute.ComputeGate, "run", refining_only)
        monkeypatch.setattr(compute, "_probed_rate", fail)


def run_it_buttons(at) -> list[str]:
    return [b.label for b in at.button if b.label.startswith("Run it")]


def stored(folder) -> dict[str, object]:
    """Every result of a store folder by its file."""
    return {f: precomputed.decode(f.name.split(".")[0], f.read_bytes()) for f in folder.glob("*/*.json.gz")}


def test_the_command_stores_each_result_once_under_the_pages_keys(store):
    kinds = [type(value).__name__ for value in stored(store).values()]
    assert kinds.count("AttackResult") == 4            # 2 models x 2 protocols
    assert kinds.count("InteractionProfile") == 4 and kinds.count("PairHeatmap") == 4
    assert kinds.count("ShapleyMap") == 2               # the same under both protocols
    assert kinds.count("Decomposition") == 4 and len(kinds) == 18


@pytest.mark.parametrize("page, protocol, charts", [("views/interactions.py", "strength", 4),
                                                    ("views/pairs.py", "eps", 2)])
def test_a_stored_request_draws_its_charts_on_a_fresh_server_without_computing(app_env, store, monkeypatch, page,
                                                                               protocol, charts):
    fresh_server(monkeypatch, store, computing_fails=True)
    at = app_test(page, img=IMAGE, protocol=protocol)
    assert errors(at) == [] and run_it_buttons(at) == []
    assert len(at.get("plotly_chart")) == charts


def test_without_the_store_the_same_request_computes_with_the_usual_estimate(app_env, store, monkeypatch, tmp_path):
    fresh_server(monkeypatch, tmp_path / "empty", computing_fails=False)
    at = app_test("views/interactions.py", img=IMAGE)
    assert run_it_buttons(at) and not at.exception


def test_a_corrupt_store_file_is_logged_and_its_result_computed_as_without_a_store(app_env, store, monkeypatch,
                                                                                   tmp_path, caplog):
    import shutil

    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    profiles = [f for f, value in stored(copy).items() if type(value).__name__ == "InteractionProfile"]
    for f in profiles:
        f.write_bytes(f.read_bytes()[:40])           # truncated
    fresh_server(monkeypatch, copy, computing_fails=False, confirm_seconds="1e9")
    with caplog.at_level(logging.WARNING, logger="mimi.store"):
        at = app_test("views/interactions.py", img=IMAGE, protocol="strength")
    assert errors(at) == [] and len(at.get("plotly_chart")) == 4
    corrupt = [r.getMessage() for r in caplog.records if "is corrupt" in r.getMessage()]
    assert len(corrupt) == 2 and all(any(f.name in m for f in profiles) for m in corrupt)   # models A and B


@pytest.mark.parametrize("data", [b"", b"\x1f\x8b not gzip", gzip.compress(b"{not json"),
                                  gzip.compress(b'{"format": 1, "key": "another key", "value": 1}'),
                                  gzip.compress(b'{"format": 1, "key": "KEY", "value": {"__result__": "Nope"}}')])
def test_an_unreadable_store_file_is_a_logged_miss(tmp_path, monkeypatch, caplog, data):
    monkeypatch.setenv(precomputed.DIR_ENV, str(tmp_path))
    key = "KEY"
    path = precomputed.path_of(key)
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    with caplog.at_level(logging.WARNING, logger="mimi.store"):
        assert precomputed.load(key) is precomputed.MISSING
    assert any(path.name in r.getMessage() and "is corrupt" in r.getMessage() for r in caplog.records)


@pytest.mark.skipif(not any(precomputed.STORE_DIR.glob("*/*.json.gz")),
                    reason="no shipped store yet: `mimi precompute` fills assets/precomputed")
@pytest.mark.parametrize("protocol", ["strength", "eps"])
def test_the_shipped_store_still_answers_image_0_at_the_defaults_of_every_page(monkeypatch, protocol):
    """Fails when a page's defaults, texts of its labels or a model card changed since `mimi precompute` ran."""
    from mimi.cli.precompute import PAGES, ROOT, run_page

    monkeypatch.delenv("MIMI_ZOO_DIR", raising=False)
    monkeypatch.delenv(precomputed.DIR_ENV, raising=False)
    monkeypatch.setenv("MIMI_DEVICE", "cpu")
    monkeypatch.chdir(ROOT)
    fresh_server(monkeypatch, precomputed.STORE_DIR, computing_fails=True)
    for path in [p for p in PAGES if (ROOT / "views" / f"{p}.py").exists()]:
        seconds, problems = run_page(path, {"img": "0", "protocol": protocol}, timeout=120)
        assert problems == [], (path, problems)


def test_the_sessions_bench_measures_stored_requests_on_a_fresh_server(store, test_zoo):
    from urllib.parse import urlencode

    from mimi.bench.sessions import measure

    env = {"MIMI_ZOO_DIR": str(test_zoo), precomputed.DIR_ENV: str(store), "MIMI_CONFIRM_SECONDS": "0",
           "OMP_NUM_THREADS": "1"}
    result = measure(sessions=3, images=[int(IMAGE)], page="pairs", env=env, timeout_s=120,
                     query=urlencode({**FAST, "protocol": "eps"}))
    assert result["without_chart"] == 0 and result["asked_run_it"] == 0 and result["with_errors"] == 0
    assert 0 < result["first_chart_worst_s"] <= result["page_worst_s"] < 120
    assert result["server_cpu_s"] > 0 and result["server_rss_peak_mib"] >= result["server_rss_before_mib"] > 0
