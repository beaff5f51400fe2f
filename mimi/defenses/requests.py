"""Request objects of the defenses' single-image computations (as :mod:`mimi.analysis.requests`): the leave-one-out
map and the recovery curve. Their fields are every setting the result depends on besides the model and the images, so
the request keys a cache; their planned forward passes are exact:

    LeaveOneOutRequest: (n + 1) mask rows on each input (x, and x' when given);
    RecoveryRequest: the Shapley map of x and x' (2 images x (2 (n-1) samples + 4) rows), then (1 + R) (n + 1)
    restorations of x' (R = ``random_orders``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional, Sequence

from torch import nn

from mimi.analysis.checks import Image, check_grid
from mimi.analysis.defaults import DEFAULTS
from mimi.analysis.requests import Request, ShapleyRequest
from mimi.core.progress import ProgressFn
from mimi.defenses.detection import LeaveOneOut, leave_one_out_map
from mimi.defenses.recovery import DEFAULT_RANDOM_ORDERS, RecoveryCurve, check_random_orders, recovery_curve


@dataclass(frozen=True)
class LeaveOneOutRequest(Request):
    """:func:`~mimi.defenses.detection.leave_one_out_map`: a_i = v(N) − v(N∖{i}) of every cell, each input scored for
    ``target`` ("predicted": what a detector sees)."""

    computation: ClassVar[str] = "leave-one-out"
    target: str = "predicted"

    def planned_calls(self, image_shape: Sequence[int], images: int) -> list[int]:
        """One game call of n + 1 mask rows (each row on every input)."""
        return [check_grid(self.grid, *image_shape[-2:]).n + 1]

    def planned_passes(self, image_shape: Sequence[int], images: int) -> int:
        return images * self.planned_calls(image_shape, images)[0]

    def run(self, model: nn.Module, image: Image, label: Optional[int], adv_image: Optional[Image] = None, *,
            device=None, progress: Optional[ProgressFn] = None) -> LeaveOneOut:
        return leave_one_out_map(model, image, adv_image, label=label, grid=self.grid, baseline=self.baseline,
                                 value=self.value, target=self.target, device=device, progress=progress)


@dataclass(frozen=True)
class RecoveryRequest(Request):
    """:func:`~mimi.defenses.recovery.recovery_curve`: R(k) with the cells ranked by |Δφ| (``samples`` antithetic
    permutation pairs) and for ``random_orders`` random orders, seeded by ``seed``."""

    computation: ClassVar[str] = "recovery"
    samples: int = DEFAULTS["shapley_samples"]
    random_orders: int = DEFAULT_RANDOM_ORDERS
    seed: int = 0

    def shapley(self) -> ShapleyRequest:
        """The Shapley map of x and x' that ranks the cells."""
        return ShapleyRequest(grid=self.grid, baseline=self.baseline, value=self.value, samples=self.samples,
                              seed=self.seed)

    def planned_calls(self, image_shape: Sequence[int], images: int = 2) -> list[int]:
        """The Shapley map's call, then one call of (1 + R) (n + 1) restorations of x'."""
        n = check_grid(self.grid, *image_shape[-2:]).n
        check_random_orders(self.random_orders)
        return [*self.shapley().planned_calls(image_shape, 2), (1 + self.random_orders) * (n + 1)]

    def planned_passes(self, image_shape: Sequence[int], images: int = 2) -> int:
        """Forward passes of one curve (``images`` is always x and x')."""
        shapley, restorations = self.shapley().planned_passes(image_shape, 2), self.planned_calls(image_shape)[-1]
        return shapley + restorations

    def run(self, model: nn.Module, image: Image, label: int, adv_image: Image, *, device=None,
            progress: Optional[ProgressFn] = None) -> RecoveryCurve:
        return recovery_curve(model, image, label, adv_image, grid=self.grid, samples=self.samples,
                              random_orders=self.random_orders, baseline=self.baseline, value=self.value,
                              seed=self.seed, device=device, progress=progress)
