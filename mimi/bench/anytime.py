"""Bench section ``anytime``: order profiles within a time budget, on the zoo and on a 224-px ResNet-18.

For each model, the dashboard's default profile request (its dataset's grid, 48 pairs drawn from the neighbour
pairs, 2 units of 1 context per pair and order, the paper's 11 orders) of one image and its adversarial version,
run through :func:`mimi.analysis.interaction_profile` with ``max_seconds`` = each budget in turn (without the
singletons v({i}), as the dashboard), from a fresh
speed probe each time. Reported per budget: the wall time against the budget, the time to the first chart (start
to the first round's pooled result: probe, planning and round 1), round 1's estimated and actual time, the rounds
run and their design, the largest SE of the high-order ΔI (clean − adversarial, orders r >= 2/3), the largest SE
of the quantities the charts show, and the rounds each order got.

- zoo: fmnist-standard on gallery image 0 (a T-shirt), attacked at equal strength (the dashboard's default);
- 224 px: torchvision's ResNet-18 with random weights, normalized as a registered ImageNet model
  (:func:`mimi.bench.masked224.imagenet_resnet18`), on the first shipped natural photo, attacked by PGD-10 at
  ε = 4/255 (L∞) against its predicted class.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from mimi.analysis import DEFAULTS
from mimi.analysis import budget as budgets
from mimi.analysis import image_game, interaction_profile, run_attack
from mimi.analysis.checks import default_pair_count
from mimi.bench.masked224 import imagenet_resnet18, photos
from mimi.core.games import predict
from mimi.data.datasets import load_gallery
from mimi.models import zoo

BUDGETS = (30.0, 60.0, 120.0)
#: Quick runs (tests): budgets per case, the 224-px one above its smallest round (about 6 s on 2 CPU cores).
QUICK_BUDGETS = ((3.0,), (15.0,))


def _cases(device: str) -> list[tuple[str, torch.nn.Module, torch.Tensor, int, dict, str]]:
    """(name, model, image, label, attack keyword arguments, grid) of the two cases."""
    standard, _ = zoo.load("fmnist-standard", device)
    gallery = load_gallery()
    resnet = imagenet_resnet18(device)
    photo = photos()[0]
    label = int(predict(resnet, photo[None].to(device))[0][0])
    return [("fmnist-standard (zoo, 28 px)", standard, gallery.images[0], int(gallery.labels[0]),
             dict(DEFAULTS["equal_strength"]), DEFAULTS["grid"]),
            ("ResNet-18 (random weights, 224 px)", resnet, photo, label, dict(eps=4 / 255, steps=10, stop_utility=None),
             "16x16")]


def budgeted(model, image, label, attack: dict, grid: str, budget: float, device: str) -> dict[str, Any]:
    """One budgeted profile from a fresh speed probe; its timings and SEs."""
    adv = run_attack(model, image, label, device=device, **attack).x_adv[0].cpu()
    game = image_game(model, image, label, adv, grid=grid, device=device)
    budgets._SPEEDS.pop(model, None)                 # as a first request of this model would
    firsts: list[float] = []
    start = time.perf_counter()
    profile = interaction_profile(
        game, ratios=DEFAULTS["ratios"], pairs=DEFAULTS["pairs"],
        pair_count=default_pair_count(game.grid, DEFAULTS["pairs"], DEFAULTS["pair_count"]), samples=DEFAULTS["samples"],
        contexts=DEFAULTS["contexts"], coverage=DEFAULTS["coverage"], max_seconds=budget, singletons=False,
        on_round=lambda pooled: firsts.append(time.perf_counter() - start) if not firsts else None)
    wall = time.perf_counter() - start
    high = profile.ratios >= 2 / 3
    record = profile.precision
    return {"budget_s": budget, "wall_s": wall, "first_chart_s": firsts[0], "rounds": record["rounds"],
            "design": record["design"], "first_round_s": record["first_round_s"],
            "first_round_estimate_s": record["first_round_estimate_s"],
            "high_order_delta_i_se": float(np.max(profile.interaction.difference.se[high])),
            "largest_se": float(record["largest_se"]), "order_rounds": profile.order_replicates.tolist()
            if profile.order_replicates is not None else [1] * len(profile.orders),
            "forward_passes": profile.forward_passes}


def run(quick: bool = False, device: str = "cpu") -> dict[str, Any]:
    rows, results = [], []
    for case, (name, model, image, label, attack, grid) in enumerate(_cases(str(device))):
        for budget in (QUICK_BUDGETS[case] if quick else BUDGETS):
            r = budgeted(model, image, label, attack, grid, budget, str(device))
            results.append({"model": name, **r})
            design = r["design"]
            rows.append([f"{name}, budget {budget:g} s", f"wall {r['wall_s']:.1f} s ({r['wall_s'] / budget:.2f}x), "
                         f"first chart {r['first_chart_s']:.1f} s, round 1 {r['first_round_s']:.2f} s (estimated "
                         f"{r['first_round_estimate_s']:.2f} s), {r['rounds']} rounds of {design['pair_count']} pairs "
                         f"x {design['samples']} x {design['contexts']}, {r['forward_passes']:,} passes, high-order "
                         f"ΔI SE {r['high_order_delta_i_se']:.3g}, largest SE on the charts {r['largest_se']:.3g}",
                         "wall <= 1.5x budget"])
    notes = [f"{'quick' if quick else 'full'} run on {device}; grid 7x7 (zoo) and 16x16 (224 px); ΔI SE: the largest "
             f"over the orders r >= 2/3"]
    return {"rows": rows, "notes": notes, "anytime": results}
