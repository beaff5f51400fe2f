"""Sampled estimates with standard errors computed from iid units.

Every sampling estimator of mimi draws ``units``: independent, identically distributed
blocks of randomness (one relabelled block design of the players, one antithetic pair of
permutations, one context per pair). ``unit_values[k]`` is the unbiased estimate from unit k
alone, so ``mean`` is their average and ``se = std(unit_values, ddof=1) / sqrt(units)``.
Keeping the units lets any linear function of the estimate (a difference between two games
evaluated on the same masks, an average over pairs or orders) get an honest SE that
includes every covariance.

When the slices along one axis are sampled independently of each other (pairs with their own
designs, orders), :meth:`Estimate.from_strata` averages over that axis with the stratified
variance Σ_p s_p² / (U P²), which has P (U - 1) degrees of freedom instead of U - 1; when those
slices are themselves a random draw from a larger set (pairs drawn from a pair set), it adds the
variance of that draw (two-stage sampling). :meth:`Estimate.combine` pools independent replicates
(a result refined with more seeds).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mimi.core.results import Result


@dataclass
class Estimate(Result):
    """``mean``/``se`` of shape ``unit_values.shape[1:]``; ``mask_rows`` mask rows evaluated (once per row
    for any number G of games; an image game's forward passes are rows x G).

    When the game returned (k, G) values, the last axis indexes the G games.
    ``info`` says what the axes are (orders, pairs, ...).
    """

    mean: np.ndarray
    se: np.ndarray
    mask_rows: int
    unit_values: np.ndarray
    info: dict = field(default_factory=dict)

    @classmethod
    def from_units(cls, unit_values: np.ndarray, mask_rows: int, info: dict | None = None) -> "Estimate":
        unit_values = np.asarray(unit_values, dtype=np.float64)
        units = unit_values.shape[0]
        if units < 2:
            raise ValueError(f"an estimate needs at least 2 units, got {units}")
        mean = np.asarray(unit_values.mean(axis=0))
        se = np.asarray(unit_values.std(axis=0, ddof=1) / np.sqrt(units))
        se[np.all(unit_values == unit_values[0], axis=0)] = 0.0   # deterministic terms: exactly 0
        return cls(mean, se, int(mask_rows), unit_values, dict(info or {}))

    @classmethod
    def from_strata(cls, unit_values: np.ndarray, axis: int, mask_rows: int,
                    info: dict | None = None, population: int | None = None) -> "Estimate":
        """Mean over ``axis`` of K independently sampled strata (pairs, orders), U iid units each.

        Estimate x̄ = (1/K) Σ_p x̄_p. When the K strata are all there are (``population`` None or K), the
        variance is Σ_p s_p² / (U K²) (stratified, K (U - 1) degrees of freedom). When they are a simple
        random sample of K out of ``population`` (pairs drawn from a pair set), the two-stage variance
        (1 - f) s_b² / K + f s_w² / (K U), f = K / population, s_b² the variance between the strata means
        and s_w² the mean within-stratum variance, covers the draw of the strata as well (unbiased).
        Stored as U·K pseudo-units x̄ + α (x̄_p - x̄) + β (x_{u,p} - x̄_p), α² = (1 - f)(UK - 1)/(K - 1),
        β² = f (UK - 1)/(K (U - 1)): their mean and SE are exactly these, and any linear function of
        them (a game difference, a scaling) gets the same kind of SE. ``info``: units U, strata K, and
        ``population`` when the strata were drawn.

        With U = 1 unit per drawn stratum the within-stratum variance cannot be told apart from the
        between-strata one; the K stratum values are then the units (the ultimate-cluster estimator),
        whose variance s² / K is conservative by f s_b² / K (small where the strata differ little)."""
        values = np.moveaxis(np.asarray(unit_values, dtype=np.float64), axis + 1, 1)
        units, strata = values.shape[:2]
        population = strata if population is None else int(population)
        if units < 2 and strata == population:
            raise ValueError(f"an estimate needs at least 2 units per stratum when every stratum is evaluated, "
                             f"got {units}")
        if not strata <= population:
            raise ValueError(f"{strata} strata cannot be drawn from a population of {population}")
        fraction = strata / population
        if fraction < 1 and strata < 2:
            raise ValueError(f"one stratum drawn from {population} gives no standard error for the draw; "
                             f"draw at least 2")
        info = {**(info or {}), "units": units, "strata": strata}
        if fraction < 1:
            info["population"] = population
        if units == 1:   # ultimate cluster: the drawn strata are the iid units
            return cls.from_units(values[0], mask_rows, info)
        means = values.mean(axis=0)
        overall = means.mean(axis=0)
        between = np.sqrt((1 - fraction) * (units * strata - 1) / max(strata - 1, 1))
        within = np.sqrt(fraction * (units * strata - 1) / (strata * (units - 1)))
        pseudo = overall + between * (means - overall) + within * (values - means)
        return cls.from_units(pseudo.reshape((units * strata,) + values.shape[2:]), mask_rows, info)

    @classmethod
    def combine(cls, replicates: "list[Estimate]") -> "Estimate":
        """The mean of R independent estimates of the same quantity (each from its own seed), with SE
        sqrt(Σ_r se_r²) / R: their pseudo-units are strata of equal size (:meth:`from_strata`)."""
        if len(replicates) == 1:
            return replicates[0]
        sizes = {len(r.unit_values) for r in replicates}
        if len(sizes) != 1:
            raise ValueError(f"replicates must have equal unit counts to combine, got {sorted(sizes)}")
        stacked = np.stack([r.unit_values for r in replicates], axis=1)
        first = replicates[0].info
        combined = cls.from_strata(stacked, 0, sum(r.mask_rows for r in replicates),
                                   {k: v for k, v in first.items() if k not in ("units", "strata", "population")})
        combined.info.update(units=replicates[0].units * len(replicates), replicates=len(replicates))
        return combined

    @property
    def units(self) -> int:
        """iid units per stratum (``info["units"]`` after :meth:`from_strata`), else per estimate."""
        return int(self.info.get("units", self.unit_values.shape[0]))

    def game(self, g: int) -> "Estimate":
        """The estimate for game ``g`` alone (last axis)."""
        return Estimate.from_units(self.unit_values[..., g], self.mask_rows, self.info)

    def difference(self, a: int = 0, b: int = 1) -> "Estimate":
        """Game ``a`` minus game ``b`` (last axis), with the SE of the difference from the units."""
        return Estimate.from_units(self.unit_values[..., a] - self.unit_values[..., b],
                                   self.mask_rows, self.info)

    def average(self, axis: int, independent: bool = False) -> "Estimate":
        """Mean over an axis of ``mean`` (e.g. over pairs: the order profile), SE from the units; with
        ``independent=True`` (slices sampled independently) the stratified SE of :meth:`from_strata`."""
        axis = axis % self.mean.ndim
        if not independent:
            return Estimate.from_units(self.unit_values.mean(axis=axis + 1), self.mask_rows, self.info)
        if "strata" in self.info:
            raise ValueError("this estimate already pools strata; its units are not iid along another axis")
        return Estimate.from_strata(self.unit_values, axis, self.mask_rows, self.info)

    def scale(self, factor: np.ndarray) -> "Estimate":
        """Elementwise ``factor * estimate`` (broadcast against ``mean``), e.g. I^(m) -> J^(m)."""
        return Estimate.from_units(self.unit_values * np.asarray(factor), self.mask_rows, self.info)

    def covariance(self) -> np.ndarray:
        """Covariance of the means between games: shape ``mean.shape + (G,)``."""
        centred = self.unit_values - self.unit_values.mean(axis=0)
        rows = len(self.unit_values)
        cov = np.einsum("k...g,k...h->...gh", centred, centred) / (rows - 1)
        return cov / rows
