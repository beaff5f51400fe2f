"""Forward passes a computation will make, without running the model (exact progress bars and work bounds)."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from mimi.analysis.checks import (check_grid, check_samples, disentanglement_orders, pair_set_of, resolve_cell,
                                  resolve_orders, resolve_pairs)
from mimi.core.players import Grid
from mimi.interactions import (DEFAULT_COVERAGE, EXACT_LIMIT, sample_cell_heatmap, sample_disentanglement,
                               sample_order_profile)


def _call_sizes(sampler, n: int, *args, noise_seed: Optional[int] = None, **kwargs) -> list[int]:
    """The mask rows of each call an estimator makes to its game: its masks do not depend on the values, so a
    run on a zero game with the same seed draws the same masks (a cheap numpy pass, for exact progress). With
    ``noise_seed`` the game returns iid noise instead (for an allocation that depends on the values)."""
    sizes: list[int] = []
    rng = None if noise_seed is None else np.random.default_rng(noise_seed)

    def game(masks):
        sizes.append(len(masks))
        return np.zeros(len(masks)) if rng is None else rng.standard_normal(len(masks))

    with np.errstate(invalid="ignore", divide="ignore"):  # ratios of a zero game are 0/0
        sampler(game, n, *args, **kwargs)
    return sizes


def _dry_rows(sampler, n: int, *args, **kwargs) -> int:
    """Mask rows an estimator will evaluate (:func:`_call_sizes`)."""
    return sum(_call_sizes(sampler, n, *args, **kwargs))


def _profile_calls(n: int, pair_set, orders, samples: int, seed: int, pilot: int = 0,
                   coverage: int = DEFAULT_COVERAGE, pair_count: Optional[int] = None,
                   contexts: Optional[int] = None, singletons: bool = True) -> list[int]:
    """The mask rows of each game call of one replicate of an order profile: v(∅), v(N) and the n singletons
    (unless ``singletons`` is False) in one, then the estimator's. With a pilot the allocation depends on the
    values: the calls are then those of a game of iid noise (equal variances), an estimate."""
    kwargs = dict(pilot=pilot, coverage=coverage, pair_count=pair_count, contexts=contexts,
                  noise_seed=seed if pilot else None)
    return [2 + (n if singletons else 0)] + _call_sizes(sample_order_profile, n, pair_set, orders, samples, seed,
                                                         **kwargs)


def _profile_rows(*args, **kwargs) -> int:
    """Mask rows of one replicate of an order profile (:func:`_profile_calls`)."""
    return sum(_profile_calls(*args, **kwargs))


def _heatmap_rows(n: int, cell: int, orders, samples: int, seed: int, coverage: int = DEFAULT_COVERAGE,
                  contexts: Optional[int] = None, estimator: str = "auto") -> int:
    return _dry_rows(sample_cell_heatmap, n, cell, orders, samples, seed, coverage=coverage, contexts=contexts,
                     estimator=estimator)


def _image_plans(grid: Grid, pairs, pair_count: Optional[int], seed: int, images: int) -> list[tuple[int, np.ndarray]]:
    """Per image b: its seed, drawn from (seed, b), and its pairs (its own ``pair_count`` draw from the set)."""
    seeds = [int(np.random.SeedSequence([int(seed), b]).generate_state(1)[0]) for b in range(images)]
    return [(image_seed, resolve_pairs(grid, pairs, pair_count, image_seed)) for image_seed in seeds]


def _disentanglement_rows(n: int, plans, orders, samples: int, coverage: int, contexts: Optional[int] = None) -> int:
    """Mask rows of D^(m) over images with these (seed, pairs) plans: one game of one image each."""
    return sum(_dry_rows(sample_disentanglement, n, image_pairs, orders, samples, image_seed, coverage=coverage,
                         contexts=contexts)
               for image_seed, image_pairs in plans)


def _shapley_rows(n: int, samples: int) -> int:
    """2 (n-1) rows per antithetic pair, v(∅) and v(N) by the estimator and once more for the result."""
    return 2 * (n - 1) * samples + 4


def planned_forward_passes(computation: str, *, grid="7x7", image_shape: Sequence[int] = (28, 28), images: int = 1,
                           orders=None, ratios=None, pairs="neighbors", pair_count: Optional[int] = None,
                           samples: int = 32, contexts: Optional[int] = None, seed: int = 0, cell=0,
                           pilot: int = 0, coverage: int = DEFAULT_COVERAGE, singletons: bool = True) -> int:
    """Forward passes (images through the model) of ``computation`` with these parameters, without
    running the model (exact, except for a profile with a ``pilot``, whose allocation depends on values): "profile",
    "heatmap", "shapley", "disentanglement" or "decomposition" (``singletons``: the profile's v({i}), as in
    :func:`~mimi.analysis.interaction_profile`).
    ``images`` is 2 for clean + adversarial, B for disentanglement; ``image_shape`` is (H, W).
    The same checks as the computation itself (ValueError naming the value)."""
    grid_ = check_grid(grid, *image_shape[-2:])
    n = grid_.n
    if computation == "decomposition":
        if n > EXACT_LIMIT:
            raise ValueError(f"grid {grid_.spec} has n={n} cells; the exact decomposition needs n <= {EXACT_LIMIT}")
        return images * 2 ** n
    samples = check_samples(samples, minimum=1 if computation == "profile" and pair_count is not None else 2)
    if computation == "shapley":
        return images * _shapley_rows(n, samples)
    if computation == "heatmap":
        order_values, _ = resolve_orders(n, orders, None if orders is not None else ratios)
        return images * _heatmap_rows(n, resolve_cell(grid_, cell), order_values, samples, seed, coverage,
                                      contexts)
    if computation == "profile":
        order_values, _ = resolve_orders(n, orders, ratios)
        return images * _profile_rows(n, pair_set_of(grid_, pairs), order_values, samples, seed, pilot, coverage,
                                      pair_count, contexts, singletons)
    if computation == "disentanglement":
        order_values, _, _ = disentanglement_orders(n, orders, ratios)
        return _disentanglement_rows(n, _image_plans(grid_, pairs, pair_count, seed, images), order_values, samples,
                                     coverage, contexts)
    raise ValueError(f"unknown computation {computation!r}; choose profile, heatmap, shapley, disentanglement "
                     f"or decomposition")


def planned_calls(computation: str, *, grid="7x7", image_shape: Sequence[int] = (28, 28), images: int = 1,
                  orders=None, ratios=None, pairs="neighbors", pair_count: Optional[int] = None, samples: int = 32,
                  contexts: Optional[int] = None, seed: int = 0, coverage: int = DEFAULT_COVERAGE,
                  singletons: bool = True) -> list[int]:
    """The mask rows of each game call of ``computation`` ("profile", "shapley" or "disentanglement"; the
    arguments of :func:`planned_forward_passes`), for a time estimate that counts the calls as well as the rows
    (:meth:`mimi.analysis.budget.Speed.seconds`); D^(m) lists the calls of its ``images`` games in turn."""
    grid_ = check_grid(grid, *image_shape[-2:])
    n = grid_.n
    if computation == "profile":
        order_values, _ = resolve_orders(n, orders, ratios)
        return _profile_calls(n, pair_set_of(grid_, pairs), order_values,
                              check_samples(samples, minimum=1 if pair_count is not None else 2), seed,
                              coverage=coverage, pair_count=pair_count, contexts=contexts, singletons=singletons)
    if computation == "shapley":
        return [_shapley_rows(n, check_samples(samples))]
    if computation == "disentanglement":
        order_values, _, _ = disentanglement_orders(n, orders, ratios)
        return [rows for image_seed, image_pairs in _image_plans(grid_, pairs, pair_count, seed, images)
                for rows in _call_sizes(sample_disentanglement, n, image_pairs, order_values, check_samples(samples),
                                        image_seed, coverage=coverage, contexts=contexts)]
    raise ValueError(f"unknown computation {computation!r}; choose profile, shapley or disentanglement")
