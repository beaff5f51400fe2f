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
variance Σ_p s_p² / (U P²), which has P (U - 1) degrees of freedom instead of U - 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mimi.results import Result


@dataclass
class Estimate(Result):
    """``mean``/``se`` of shape ``unit_values.shape[1:]``; ``forward_passes`` mask rows evaluated.

    When the game returned (k, G) values, the last axis indexes the G games.
    ``info`` says what the axes are (orders, pairs, ...).
    """

    mean: np.ndarray
    se: np.ndarray
    forward_passes: int
    unit_values: np.ndarray
    info: dict = field(default_factory=dict)

    @classmethod
    def from_units(cls, unit_values: np.ndarray, forward_passes: int, info: dict | None = None) -> "Estimate":
        unit_values = np.asarray(unit_values, dtype=np.float64)
        units = unit_values.shape[0]
        if units < 2:
            raise ValueError(f"an estimate needs at least 2 units, got {units}")
        mean = np.asarray(unit_values.mean(axis=0))
        se = np.asarray(unit_values.std(axis=0, ddof=1) / np.sqrt(units))
        se[np.all(unit_values == unit_values[0], axis=0)] = 0.0   # deterministic terms: exactly 0
        return cls(mean, se, int(forward_passes), unit_values, dict(info or {}))

    @classmethod
    def from_strata(cls, unit_values: np.ndarray, axis: int, forward_passes: int,
                    info: dict | None = None) -> "Estimate":
        """Mean over ``axis`` (of the estimate) of P independently sampled strata, U iid units each.

        Estimate (1/P) Σ_p x̄_p, variance Σ_p s_p² / (U P²) (unbiased, P (U - 1) degrees of freedom).
        Stored as U·P pseudo-units x̄ + c (x_{u,p} - x̄_p), c² = (UP - 1) / ((U - 1) P): their mean and
        SE are exactly these, and any linear function of them (a game difference, a scaling) gets the
        stratified SE of that function. ``info["units"]`` keeps U, ``info["strata"]`` P."""
        values = np.moveaxis(np.asarray(unit_values, dtype=np.float64), axis + 1, 1)
        units, strata = values.shape[:2]
        if units < 2:
            raise ValueError(f"an estimate needs at least 2 units, got {units}")
        centred = values - values.mean(axis=0)
        scale = np.sqrt((units * strata - 1) / ((units - 1) * strata))
        pseudo = values.mean(axis=(0, 1)) + scale * centred.reshape((units * strata,) + values.shape[2:])
        return cls.from_units(pseudo, forward_passes, {**(info or {}), "units": units, "strata": strata})

    @property
    def units(self) -> int:
        """iid units per stratum (``info["units"]`` after :meth:`from_strata`), else per estimate."""
        return int(self.info.get("units", self.unit_values.shape[0]))

    def game(self, g: int) -> "Estimate":
        """The estimate for game ``g`` alone (last axis)."""
        return Estimate.from_units(self.unit_values[..., g], self.forward_passes, self.info)

    def difference(self, a: int = 0, b: int = 1) -> "Estimate":
        """Game ``a`` minus game ``b`` (last axis), with the SE of the difference from the units."""
        return Estimate.from_units(self.unit_values[..., a] - self.unit_values[..., b],
                                   self.forward_passes, self.info)

    def average(self, axis: int, independent: bool = False) -> "Estimate":
        """Mean over an axis of ``mean`` (e.g. over pairs: the order profile), SE from the units; with
        ``independent=True`` (slices sampled independently) the stratified SE of :meth:`from_strata`."""
        axis = axis % self.mean.ndim
        if not independent:
            return Estimate.from_units(self.unit_values.mean(axis=axis + 1), self.forward_passes, self.info)
        if "strata" in self.info:
            raise ValueError("this estimate already pools strata; its units are not iid along another axis")
        return Estimate.from_strata(self.unit_values, axis, self.forward_passes, self.info)

    def scale(self, factor: np.ndarray) -> "Estimate":
        """Elementwise ``factor * estimate`` (broadcast against ``mean``), e.g. I^(m) -> J^(m)."""
        return Estimate.from_units(self.unit_values * np.asarray(factor), self.forward_passes, self.info)

    def covariance(self) -> np.ndarray:
        """Covariance of the means between games: shape ``mean.shape + (G,)``."""
        centred = self.unit_values - self.unit_values.mean(axis=0)
        rows = len(self.unit_values)
        cov = np.einsum("k...g,k...h->...gh", centred, centred) / (rows - 1)
        return cov / rows
