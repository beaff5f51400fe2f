"""Bench section ``estimators``: forward passes for the same standard error, mimi vs the paper protocol.

The game: a Fashion-MNIST gallery image on a 7x7 grid (n = 49 cells of 4x4 px), cells outside the
coalition set to the image mean, value = log-odds of the true class, model ``fmnist-standard`` from the
zoo (a seeded untrained SmallCNN stands in when it is missing; said in the notes). Built here on purpose,
independent of the image API.

The headline rows measure the charts' estimands (:func:`pair_set_compare`): the order profile as the
mean over all 156 neighbour pairs of the grid, and ΔJ^(m) over all 1176 pairs (clean minus
adversarial), the paper's protocol drawing 33 pairs with 100 contexts each and its variance counting
that draw; mimi runs the dashboard's settings (:data:`mimi.analysis.DEFAULTS`) and alternatives, each
rerun with new seeds, so the variance and the SE honesty are the spread of real reruns.

The rows below them measure the per-pair design on a fixed set of pairs and the heatmap (the library's
``estimator="auto"``, and block stars at every order side by side, on the same paper-protocol draws).
Method (per order m; the same for fixed pairs and for a heatmap):

- paper protocol: ``samples`` = K contexts per pair and order, 4 rows each. With per-pair variances
  σ_p² of Δv (estimated from a pilot of independent contexts), its SE² is Σ_p σ_p² / (P² K) for the
  profile and σ_p² / K for heatmap cell p. The reference is K = 100 (the paper's setting):
  4 · P · 100 rows per order.
- mimi: ``units`` iid units per order measure the variance per unit V_m (of the profile, or of each
  cell) and the rows per unit c_m. Reaching the paper's SE² needs V_m / SE² units, so
  c_m · V_m / SE² rows. Orders m = n-2 are exact for mimi (1 + n + P rows) and deterministic for the
  paper too (its 4 P K rows buy nothing there). mimi runs with the library's default block-design
  coverage (``DEFAULT_COVERAGE``); the full run also measures coverage 1, the dashboard's small units.
- ratio = Σ_m mimi rows / Σ_m paper rows at equal SE at every order (heatmap: equal mean SE² over cells;
  the worst cell is reported as well). A 90% interval comes from a bootstrap over mimi units and
  pilot contexts.
- attacking utility by order (clean minus adversarial profile, the adversarial image from PGD-20 at
  eps 0.1): the paper protocol runs each image on its own contexts, so its per-pair variance is
  σ²_clean + σ²_adv; mimi evaluates both images on the same masks (common random numbers), and its
  unit values are the differences. Rows are counted once per mask row for both (each row is two
  forward passes, one per image, in both protocols).
- honesty of mimi's SE: repeated runs with different seeds; the spread of their estimates over the
  root-mean-square of their reported SEs should be about 1.

Images per second on CPU are low (a few hundred to a few thousand), so ``quick`` uses a subset of
pairs and orders and few units (ratios indicative, wide intervals); the full run is the measurement.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from mimi.analysis import DEFAULTS
from mimi.attacks import pgd
from mimi.core.compute import freeze
from mimi.core.values import class_value
from mimi.data.datasets import load_gallery
from mimi.interactions import (DEFAULT_COVERAGE, CountingGame, all_pairs, cell_pairs, neighbor_pairs,
                               paper_order_interactions, paper_orders, sample_cell_heatmap, sample_order_interactions,
                               sample_order_profile, sample_pairs)
from mimi.models import zoo
from mimi.models.networks import SmallCNN

GRID = (7, 7)
REFERENCE_SAMPLES = 100
ADV_EPS = 0.1


def image_game(model: torch.nn.Module, images: torch.Tensor, labels, rows: int, cols: int,
               device="cpu", batch_size: int = 1024):
    """v(masks) for images (G, C, H, W) (or one (C, H, W)): cells of a rows x cols grid kept, the rest set
    to each image's mean; log-odds of ``labels``. Returns (k,) for one image, (k, G) for several."""
    single = images.dim() == 3
    images = (images[None] if single else images).to(device)
    labels = torch.as_tensor(labels, device=device).reshape(-1)
    G, C, H, W = images.shape
    cell = ((torch.arange(H, device=device)[:, None] * rows // H) * cols
            + torch.arange(W, device=device)[None, :] * cols // W).reshape(-1)
    baseline = images.mean(dim=(1, 2, 3), keepdim=True)

    def v(masks: np.ndarray) -> np.ndarray:
        keep = torch.from_numpy(masks).to(device)[:, cell].reshape(-1, 1, 1, H, W)
        out = []
        with torch.inference_mode():
            for start in range(0, len(keep), max(1, batch_size // G)):
                x = torch.where(keep[start:start + max(1, batch_size // G)], images, baseline)
                logits = model(x.reshape(-1, C, H, W))
                out.append(class_value(logits, labels.repeat(x.shape[0]), "log-odds").reshape(-1, G))
        values = torch.cat(out).double().cpu().numpy()
        return values[:, 0] if single else values

    return v


def load_model(device="cpu") -> tuple[torch.nn.Module, str, list[str]]:
    try:
        return zoo.load("fmnist-standard", device)[0], "fmnist-standard", []
    except (zoo.UnknownModel, zoo.CorruptWeights) as exc:
        torch.manual_seed(0)
        return (freeze(SmallCNN().to(device)), "untrained SmallCNN (seed 0)",
                [f"fmnist-standard not available ({str(exc)[:80]}): an untrained SmallCNN stands in"])


def _pilot_variances(v, n: int, pairs: np.ndarray, orders, samples: int, seed: int,
                     difference: bool = False) -> np.ndarray:
    """(samples, M, P) independent Δv per pair and order: the paper protocol's own draws. With
    ``difference`` (v returns (k, 2): clean, adversarial) the paper runs each image on its own
    contexts, so the draws are clean Δv of context k minus adversarial Δv of context k + 1."""
    units = paper_order_interactions(v, n, pairs, orders, samples, seed).unit_values
    return units[..., 0] - np.roll(units[..., 1], 1, axis=0) if difference else units


def _mimi_units(v, n: int, pairs: np.ndarray, orders, units: int, seed: int, heatmap: bool, pilot: int,
                difference: bool = False, coverage: int = DEFAULT_COVERAGE, estimator: str = "auto"):
    """Per order: unit values ((units,) profile or (units, P) cells), rows per unit, fixed rows.

    Profile: :func:`sample_order_profile` (pair grouping; with ``pilot`` >= 2, Neyman allocation after
    a pilot of that many contexts per pair: fixed rows). Heatmap: :func:`sample_cell_heatmap` with
    ``estimator`` (the cell is the pairs' first player). A deterministic order (m = n-2) is all fixed rows.
    With ``difference`` the unit values are clean minus adversarial, both on the same masks."""
    values, costs, fixed = [], [], []
    for k, m in enumerate(orders):
        game = CountingGame(v, n)
        counted = game if difference else (lambda masks: game(masks)[:, 0])
        if heatmap:
            est = sample_cell_heatmap(counted, n, int(pairs[0, 0]), [m], units, seed + k, coverage=coverage,
                                      estimator=estimator)
            values.append(est.unit_values[:, 0, pairs[:, 1]])
            pilot_rows = 0
        else:
            # one explicit group per pair: the draws of grouping="pair", with unit-level values to resample
            est = sample_order_profile(counted, n, pairs, [m], units, seed + k, pilot=pilot, coverage=coverage,
                                       grouping=[[p] for p in range(len(pairs))])
            values.append(est.difference(0, 1).unit_values[:, 0] if difference else est.unit_values[:, 0])
            pilot_rows = 4 * pilot * len(pairs) if 0 < m < n - 2 else 0
        if m in (0, n - 2):
            costs.append(0.0)
            fixed.append(float(game.mask_rows))
        else:
            costs.append((game.mask_rows - pilot_rows) / units)
            fixed.append(float(pilot_rows))
    return values, costs, fixed


def _ratio(pilot: list, mimi: list, costs: list, fixed: list, heatmap: bool):
    """(total ratio, median-cell total ratio, per-order ratios) at the paper's reference SE."""
    P = pilot[0].shape[1]
    paper_rows = mimi_rows = median_rows = 0.0
    per_order = []
    for sig_units, units, cost, rows_fixed in zip(pilot, mimi, costs, fixed):
        paper = 4 * P * REFERENCE_SAMPLES
        sigma2 = sig_units.var(axis=0, ddof=1)                         # (P,) per-pair Δv variance
        if cost == 0:                                                  # deterministic order (m = n-2)
            rows = median = rows_fixed
        elif heatmap:
            var_unit = units.var(axis=0, ddof=1)
            rows = rows_fixed + cost * REFERENCE_SAMPLES * var_unit.mean() / sigma2.mean()
            median = rows_fixed + cost * REFERENCE_SAMPLES * np.median(var_unit / np.maximum(sigma2, 1e-300))
        else:
            var_unit = units.var(ddof=1)
            rows = median = rows_fixed + cost * REFERENCE_SAMPLES * var_unit * P ** 2 / sigma2.sum()
        paper_rows += paper
        mimi_rows += rows
        median_rows += median
        per_order.append(rows / paper)
    return mimi_rows / paper_rows, median_rows / paper_rows, np.array(per_order)


def _bootstrap(pilot, mimi, costs, fixed, heatmap, rng, draws=200) -> tuple[float, float]:
    totals = []
    for _ in range(draws):
        p = [x[rng.integers(0, len(x), len(x))] for x in pilot]
        u = [x[rng.integers(0, len(x), len(x))] for x in mimi]
        with np.errstate(divide="ignore", invalid="ignore"):   # a resample may have zero pilot variance
            totals.append(_ratio(p, u, costs, fixed, heatmap)[0])
    totals = np.asarray(totals)
    totals = totals[np.isfinite(totals)]
    return float(np.quantile(totals, 0.05)), float(np.quantile(totals, 0.95))


def compare(v, n: int, pairs: np.ndarray, orders, *, pilot_samples: int, units: int, heatmap: bool,
            allocation_pilot: int = 0, seed: int = 0, difference: bool = False,
            coverage: int = DEFAULT_COVERAGE, reference: np.ndarray | None = None,
            estimator: str = "auto") -> dict[str, Any]:
    """Rows mimi needs / rows the paper protocol needs for the same SE (module docstring).
    ``reference``: the paper protocol's draws (:func:`_pilot_variances` of this game, pairs, orders,
    ``pilot_samples`` and ``seed``) when another comparison already made them. ``estimator``: the
    heatmap's (:func:`~mimi.interactions.heatmap.heatmap_estimator`)."""
    orders = [int(m) for m in orders]
    pilot_units = (_pilot_variances(v, n, pairs, orders, pilot_samples, seed, difference)
                   if reference is None else reference)
    pilot = [pilot_units[:, k] for k in range(len(orders))]
    mimi, costs, fixed = _mimi_units(v, n, pairs, orders, units, seed + 1000, heatmap, allocation_pilot,
                                     difference, coverage, estimator)
    ratio, median, per_order = _ratio(pilot, mimi, costs, fixed, heatmap)
    low, high = _bootstrap(pilot, mimi, costs, fixed, heatmap, np.random.default_rng(seed))
    out = {"ratio": float(ratio), "ratio_90ci": [low, high],
           "per_order_ratio": dict(zip(orders, per_order.round(3).tolist())),
           "mimi_rows_per_unit": dict(zip(orders, np.round(costs, 1).tolist())),
           "mimi_fixed_rows": dict(zip(orders, fixed)),
           "pairs": len(pairs), "pilot_contexts_per_pair": pilot_samples, "mimi_units": units,
           "estimator": (f"sample_cell_heatmap(estimator={estimator!r}, coverage={coverage})" if heatmap else
                         f"sample_order_profile(grouping='pair', pilot={allocation_pilot}, coverage={coverage})")}
    if heatmap:
        out["median_cell_ratio"] = float(median)
    return out


PAPER_PAIRS_7X7 = 33   # the paper's 200 of 930 neighbour pairs at 16x16, scaled to the 156 of a 7x7 grid
PRECISE_UNITS = 4      # units of mimi's per-pair estimates behind the between-pair variance


def pair_set_compare(v, n: int, pair_set: np.ndarray, orders, *, pilot_pairs: int, pilot_samples: int,
                     repeats: int, configs: dict[str, dict], seed: int = 0, difference: bool = False,
                     weight: np.ndarray | None = None) -> dict[str, Any]:
    """Forward passes for the paper's SE on the mean over a whole pair set P, with the pair draw counted.

    Paper protocol: K = 33 pairs drawn from P, 100 independent contexts each, 4 rows per context; its
    variance (1 - K/|P|) S_b² / K + σ̄_w² / (100 K) comes from ``pilot_pairs`` pairs drawn from P:
    σ̄_w², the mean variance of Δv at one context, from ``pilot_samples`` independent contexts each;
    S_b², the variance of I^(m) between the pairs of P, from mimi's precise per-pair estimates
    (``PRECISE_UNITS`` units of whole coverage-4 designs, common random numbers for a difference) as
    the variance of the pair estimates minus their mean squared SE (a few contexts per pair leave S_b²
    buried in their noise). With ``difference`` (v returns (k, 2)) the paper runs each image
    on its own contexts. mimi: each config (keyword arguments of :func:`sample_order_profile`) is run
    ``repeats`` times with new seeds (new pairs, new contexts); the spread of its estimates is its
    variance V, so its passes for the paper's SE are rows · V / V_paper (rows counted per order, one
    row per mask for both images). ``honesty`` = spread / RMS of the reported SEs. ``weight`` scales
    each order (ΔJ^(m) = (n-1-m) 2|P|/(n(n-1)) ΔĪ^(m)) for the per-order numbers."""
    orders = [int(m) for m in orders]
    rng = np.random.default_rng(seed)
    sample = pair_set[np.sort(rng.choice(len(pair_set), size=min(pilot_pairs, len(pair_set)), replace=False))]
    draws = _pilot_variances(v, n, sample, orders, pilot_samples, seed, difference)       # (C, M, P')
    within = draws.var(axis=0, ddof=1).mean(axis=-1)                                     # σ̄_w² per order
    precise = sample_order_interactions(v, n, sample, orders, PRECISE_UNITS, seed + 1)
    precise = precise.difference(0, 1) if difference else precise
    between = np.maximum(precise.mean.var(axis=-1, ddof=1) - (precise.se ** 2).mean(axis=-1), 0.0)
    k = min(PAPER_PAIRS_7X7, len(pair_set))
    paper_var = (1 - k / len(pair_set)) * between / k + within / (REFERENCE_SAMPLES * k)
    paper_rows = np.where([0 < m < n - 2 for m in orders], 4 * k * REFERENCE_SAMPLES, 4 * k)
    out: dict[str, Any] = {"pair_set_size": len(pair_set), "paper_pairs": k, "pilot_pairs": len(sample),
                           "pilot_contexts_per_pair": pilot_samples, "between_pair_variance": between.round(4).tolist(),
                           "within_pair_variance": within.round(4).tolist(), "configs": {}}
    for name, kwargs in configs.items():
        means, ses, rows = [], [], np.zeros(len(orders))
        for r in range(repeats):
            row = []
            for index, m in enumerate(orders):
                est = sample_order_profile(v, n, pair_set, [m], seed=10_000 * (r + 1) + index, **kwargs)
                rows[index] += est.mask_rows / repeats
                est = est.difference(0, 1) if difference else est
                row.append((float(est.mean[0]), float(est.se[0])))
            means.append([x for x, _ in row])
            ses.append([x for _, x in row])
        means, ses = np.array(means), np.array(ses)
        variance = means.var(axis=0, ddof=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            needed = np.where(paper_var > 0, rows * variance / paper_var, rows)
            reported = np.sqrt((ses ** 2).mean(axis=0))
            honesty = np.where(reported > 0, means.std(axis=0, ddof=1) / reported, np.nan)   # exact orders: none
        scale = np.ones(len(orders)) if weight is None else np.asarray(weight, dtype=float)
        out["configs"][name] = {
            "kwargs": {key: value for key, value in kwargs.items()}, "repeats": repeats,
            "ratio": float(needed.sum() / paper_rows.sum()),
            "per_order_ratio": dict(zip(orders, (needed / paper_rows).round(4).tolist())),
            "rows_per_order": dict(zip(orders, rows.round(0).tolist())),
            "honesty": dict(zip(orders, np.round(honesty, 2).tolist())),
            "honesty_mean": float(np.nanmean(honesty)),
            "se_mean": dict(zip(orders, (scale * np.sqrt((ses ** 2).mean(axis=0))).round(4).tolist())),
            "paper_se": dict(zip(orders, (scale * np.sqrt(paper_var)).round(4).tolist()))}
    return out


def se_honesty(v, n: int, pairs: np.ndarray, order: int, *, repeats: int, units: int, heatmap: bool,
               pilot: int = 0) -> dict[str, float]:
    """Spread of repeated estimates (different seeds) over the RMS of their reported SEs (~1 if honest)."""
    means, ses = [], []
    for seed in range(repeats):
        if heatmap:   # the cells other than the heatmap's own
            est = sample_cell_heatmap(v, n, int(pairs[0, 0]), [order], units, 10_000 + seed)
            mean, se = est.mean[:, pairs[:, 1]], est.se[:, pairs[:, 1]]
        else:
            est = sample_order_profile(v, n, pairs, [order], units, 10_000 + seed, pilot=pilot)
            mean, se = est.mean, est.se
        means.append(mean.reshape(-1))
        ses.append(se.reshape(-1))
    means, ses = np.array(means), np.array(ses)
    ratio = means.std(axis=0, ddof=1).mean() / np.sqrt((ses ** 2).mean(axis=0)).mean()
    return {"order": order, "repeats": repeats, "units": units, "spread_over_se": float(ratio)}


def run(quick: bool = False, device="cpu") -> dict[str, Any]:
    started = time.perf_counter()
    model, model_name, notes = load_model(device)
    gallery = load_gallery()
    image, label = gallery.images[0], int(gallery.labels[0])
    rows_, cols_ = GRID
    n = rows_ * cols_
    v = image_game(model, image, label, rows_, cols_, device=device)
    orders = paper_orders(n)
    all_neighbours = neighbor_pairs(rows_, cols_)
    if quick:
        profile_pairs = sample_pairs(all_neighbours, 12, seed=0)
        profile_orders = heat_orders = orders[[0, 4, 8, 10]]
        pilot, units, repeats = 3, 4, 0
        set_orders, set_pilot_pairs, set_pilot, set_repeats = orders[[4, 8, 10]], 24, 4, 4
    else:
        profile_pairs = sample_pairs(all_neighbours, 16, seed=0)
        profile_orders, heat_orders = orders, orders
        pilot, units, repeats = 24, 16, 30
        set_orders, set_pilot_pairs, set_pilot, set_repeats = orders, 156, 24, 30
    centre = (rows_ // 2) * cols_ + cols_ // 2
    reference = _pilot_variances(v, n, profile_pairs, profile_orders, pilot, 0)   # shared by both coverages
    profile = compare(v, n, profile_pairs, profile_orders, pilot_samples=pilot, units=units, heatmap=False,
                      reference=reference)
    heat_reference = _pilot_variances(v, n, cell_pairs(centre, n), heat_orders, pilot, 0)   # shared by both
    heat = compare(v, n, cell_pairs(centre, n), heat_orders, pilot_samples=pilot, units=units, heatmap=True,
                   reference=heat_reference)
    heat_stars = compare(v, n, cell_pairs(centre, n), heat_orders, pilot_samples=pilot, units=units, heatmap=True,
                         reference=heat_reference, estimator="stars")
    adversarial = pgd(model, image[None].to(device), [label], eps=ADV_EPS, steps=20, seed=0).x_adv[0].cpu()
    pair_game = image_game(model, torch.stack([image, adversarial.to(image.dtype)]), [label, label], rows_, cols_,
                           device=device)
    utility = compare(pair_game, n, profile_pairs, profile_orders, pilot_samples=pilot, units=units, heatmap=False,
                      difference=True)
    dashboard = {key: DEFAULTS[key] for key in ("pair_count", "samples", "contexts", "coverage")}
    every_pair = {**dashboard, "pair_count": None}
    set_profile = pair_set_compare(v, n, all_neighbours, set_orders, pilot_pairs=set_pilot_pairs,
                                   pilot_samples=set_pilot, repeats=set_repeats,
                                   configs={"dashboard": dashboard, "every pair": every_pair})
    all_pairs_set = all_pairs(n)
    delta_j = pair_set_compare(pair_game, n, all_pairs_set, set_orders, pilot_pairs=max(set_pilot_pairs, 200 if not quick else 24),
                               pilot_samples=set_pilot, repeats=set_repeats, difference=True,
                               configs={"dashboard": dashboard, "256 pairs": {**dashboard, "pair_count": 256},
                                        "512 pairs, one unit": {**dashboard, "pair_count": 512, "samples": 1},
                                        "32 pairs, whole designs": {**dashboard, "pair_count": 32, "contexts": None}},
                               weight=(n - 1 - np.asarray(set_orders)).astype(float))
    result: dict[str, Any] = {"game": {"model": model_name, "image": "gallery 0", "label": label, "grid": "7x7",
                                       "baseline": "image mean", "value": "log-odds", "n": n,
                                       "adversarial": f"PGD-20 L-inf eps {ADV_EPS}, seed 0"},
                              "profile": profile, "heatmap": heat, "heatmap_stars": heat_stars, "attack_utility": utility,
                              "pair_set_profile": set_profile, "delta_j_all_pairs": delta_j, "notes": notes}
    rows = []
    for label, section, goal in (("order profile over all 156 neighbour pairs", set_profile, "<= 0.05"),
                                 ("ΔJ over all 1176 pairs (clean - adversarial)", delta_j, "<= 0.05")):
        for name, config in section["configs"].items():
            rows += [[f"{label}, {name} {config['kwargs']}: mimi / paper passes for the same SE (pair draw counted)",
                      round(config["ratio"], 4), goal],
                     [f"{label}, {name}: SE honesty (spread of {config['repeats']} reruns / reported SE, mean "
                      f"over orders)", round(config["honesty_mean"], 2), "~1"]]
    rows += [
        ["16 fixed neighbour pairs (per-pair design efficiency): mimi / paper rows for the same SE",
         round(profile["ratio"], 3), ""],
        ["order profile: 90% interval of that ratio",
         f"{profile['ratio_90ci'][0]:.2f}..{profile['ratio_90ci'][1]:.2f}", ""],
        ["16 fixed pairs, clean - adversarial (common random numbers): mimi / paper rows, same SE",
         round(utility["ratio"], 3), ""],
        ["clean - adversarial profile: 90% interval of that ratio",
         f"{utility['ratio_90ci'][0]:.2f}..{utility['ratio_90ci'][1]:.2f}", ""],
        ["heatmap (centre cell): mimi / paper rows for the same mean SE", round(heat["ratio"], 3), "<= 0.25"],
        ["heatmap: 90% interval of that ratio", f"{heat['ratio_90ci'][0]:.2f}..{heat['ratio_90ci'][1]:.2f}", ""],
        ["heatmap: ratio for the same SE at the median cell", round(heat["median_cell_ratio"], 3), ""],
        ["heatmap with block stars at every order: mimi / paper rows for the same mean SE",
         round(heat_stars["ratio"], 3), ""],
    ]
    if repeats:
        middle = int(orders[4])
        honesty = {"profile": se_honesty(v, n, profile_pairs, middle, repeats=repeats, units=4, heatmap=False),
                   "heatmap": se_honesty(v, n, cell_pairs(centre, n), middle, repeats=repeats, units=4,
                                         heatmap=True)}
        result["se_honesty"] = honesty
        rows += [["profile SE honesty: spread of repeats / reported SE",
                  round(honesty["profile"]["spread_over_se"], 2), "~1"],
                 ["heatmap SE honesty: spread of repeats / reported SE",
                  round(honesty["heatmap"]["spread_over_se"], 2), "~1"]]
    notes.append(f"{'quick' if quick else 'full'}: profile over {len(profile_pairs)} random neighbour pairs, orders "
                 f"{[int(m) for m in profile_orders]}; heatmap of the centre cell, orders "
                 f"{[int(m) for m in heat_orders]}; reference: paper protocol with {REFERENCE_SAMPLES} contexts "
                 f"per pair and order; {units} mimi units and {pilot} pilot contexts per pair and order "
                 f"measure the variances; {time.perf_counter() - started:.0f} s")
    result["rows"] = rows
    return result
