"""Bench section ``paper224``: the paper's protocol at ImageNet scale, for a GPU.

The game: a torchvision ResNet-18 with random weights (seed 0), one seeded 3x224x224 noise image,
a 16x16 grid (n = 256 cells of 14x14 px), ImageNet's channel means as baseline, log-odds of the
predicted class, bf16 autocast on CUDA, the engine's default batch size.

- (a) throughput: raw forward vs the engine's masked forward, same module and batch (goal >= 0.9);
- the released protocol for one image (docs/science.md §10): 200 random 8-neighbour pairs, the 11 ratio
  orders, 100 contexts per pair and order, four forward passes each (880,000), run end to end by
  :func:`mimi.interactions.paper_order_interactions` (goal < 30 s on one H100);
- (b) mimi / paper forward passes for the same SE on the order profile, measured as in the
  ``estimators`` section on 16 of the pairs;
- mimi at that SE: per order, the units the measured ratio asks for, on all 200 pairs, timed end to
  end by :func:`mimi.interactions.sample_order_profile` (goal < 30 s on one H100).

A full run needs CUDA (on 2 CPU cores it would take days); ``quick`` runs a tiny version anywhere
(4 pairs, one sampled order and the exact top order, 2 contexts) to check the path.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from mimi.bench.engine import masked_forward_overhead
from mimi.bench.estimators import REFERENCE_SAMPLES, compare
from mimi.core.compute import freeze
from mimi.core.games import ImageGame, predict
from mimi.interactions import neighbor_pairs, paper_order_interactions, paper_orders, sample_order_profile, sample_pairs

SIDE, GRID = 224, (16, 16)
IMAGENET_MEAN = (0.485, 0.456, 0.406)   # the mean baseline: ImageNet's channel means


def _timed(device, work):
    """(result, wall seconds) of ``work()``, the GPU synchronised on both ends."""
    cuda = str(device).startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = work()
    if cuda:
        torch.cuda.synchronize()
    return result, time.perf_counter() - start


def run(quick: bool = False, device="cpu") -> dict[str, Any]:
    from torchvision.models import resnet18  # deferred: torchvision.models takes about 2 s to import

    cuda = str(device).startswith("cuda")
    if not cuda and not quick:
        return {"rows": [], "notes": ["the full run needs a CUDA device (mimi bench --only paper224 --device cuda); "
                                      "--quick checks the path on a CPU"]}
    precision = "bf16" if cuda else "float32"
    torch.manual_seed(0)
    model = freeze(resnet18(weights=None).to(device))
    image = torch.rand(3, SIDE, SIDE, generator=torch.Generator().manual_seed(0))
    target = int(predict(model, image[None])[0][0])
    rows_, cols_ = GRID
    n = rows_ * cols_
    game = ImageGame(model, image, target, grid=f"{rows_}x{cols_}", device=device, precision=precision,
                     baseline_mean=IMAGENET_MEAN)
    orders = paper_orders(n)
    if quick:
        orders, samples, pairs = orders[[4, -1]], 2, sample_pairs(neighbor_pairs(rows_, cols_), 4, seed=0)
    else:
        samples, pairs = REFERENCE_SAMPLES, sample_pairs(neighbor_pairs(rows_, cols_), 200, seed=0)
    throughput = masked_forward_overhead(model, batch_size=8 if quick else game.batch_size, batches=1 if quick else 8,
                                         repeats=1 if quick else 3, device=str(device), image_shape=(3, SIDE, SIDE),
                                         grid=f"{rows_}x{cols_}", precision=precision, baseline_mean=IMAGENET_MEAN)
    paper, paper_s = _timed(device, lambda: paper_order_interactions(game, n, pairs, orders, samples, seed=0))
    subset = pairs[:len(pairs) if quick else 16]
    measured = compare(game, n, subset, orders, pilot_samples=3 if quick else 24, units=2 if quick else 8,
                       heatmap=False)
    units = {}
    for m in orders.tolist():
        cost = measured["mimi_rows_per_unit"][m]
        if cost:   # sampled order: units for the paper's SE (the ratio does not depend on the pair count)
            needed = measured["per_order_ratio"][m] * 4 * len(subset) * REFERENCE_SAMPLES / cost
            units[m] = max(2, math.ceil(needed * samples / REFERENCE_SAMPLES))
        else:      # the exact top order
            units[m] = 2

    def mimi_profiles():
        return [sample_order_profile(game, n, pairs, [m], units[m], seed=1) for m in orders.tolist()]

    profiles, mimi_s = _timed(device, mimi_profiles)
    mimi_passes = sum(p.mask_rows for p in profiles)
    ratio = throughput["engine"] / throughput["raw_engine_module"]
    per = "per second" if throughput["clock"] == "wall" else "per CPU-second"
    rows = [
        [f"(a) raw ResNet-18 forward, 224 px, images {per} (batch {throughput['batch_size']}, {precision})",
         round(throughput["raw_engine_module"]), ""],
        [f"(a) engine masked forward (16x16 grid), images {per}", round(throughput["engine"]), ""],
        ["(a) engine / raw throughput", round(ratio, 3), ">= 0.9"],
        [f"paper protocol, one image ({paper.mask_rows:,} forward passes), s", round(paper_s, 2),
         "< 30 s" if cuda else ""],
        ["(b) order profile: mimi / paper forward passes for the same SE", round(measured["ratio"], 3), "<= 0.5"],
        ["(b) 90% interval of that ratio", f"{measured['ratio_90ci'][0]:.2f}..{measured['ratio_90ci'][1]:.2f}", ""],
        [f"mimi order profile at the paper's SE ({mimi_passes:,} forward passes), s", round(mimi_s, 2),
         "< 30 s" if cuda else ""],
    ]
    notes = [f"{'quick' if quick else 'full'}: {len(pairs)} pairs, orders {orders.tolist()}, {samples} contexts per "
             f"pair and order for the paper protocol; mimi units per order {units}; ratio measured on "
             f"{len(subset)} pairs with {measured['mimi_units']} units and {measured['pilot_contexts_per_pair']} "
             f"pilot contexts per pair and order"]
    return {"rows": rows, "notes": notes, "throughput": throughput, "paper_s": paper_s, "mimi_s": mimi_s,
            "paper_forward_passes": paper.mask_rows, "mimi_forward_passes": mimi_passes,
            "units": units, "ratio": measured, "precision": precision, "batch_size": game.batch_size}
