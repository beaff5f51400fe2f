"""One request object per image computation: its fields are every setting the result depends on besides the model
and the images, so the request itself keys a cache; its planned forward passes, from the planner's dry run, are the
cost. The dashboard, ``mimi analyze`` and notebooks build the same objects:

    request = HeatmapRequest(grid="7x7", cell=24, ratios=(0.2, 0.5, 0.8), samples=2, seed=0)
    request.planned_passes(image_shape=(28, 28), images=2)        # what a run on x and x' will cost
    heatmap = request.run(request.game(model, x, label, x_adv))     # = pair_heatmap(image_game(...), 24, ...)

The game's settings (``grid``, ``baseline``, ``value``) are fields like the others; :meth:`ImageRequest.game` builds
the :func:`~mimi.analysis.image_game` they describe and :meth:`ImageRequest.run` the computation on it. A field left
out takes the dashboard's default (:data:`~mimi.analysis.DEFAULTS`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Optional, Sequence

import torch
from torch import nn

from mimi.analysis.across_images import disentanglement
from mimi.analysis.checks import Image
from mimi.analysis.defaults import DEFAULTS
from mimi.analysis.exact import decomposition
from mimi.analysis.image_game import image_game
from mimi.analysis.maps import pair_heatmap, shapley_map
from mimi.analysis.planning import planned_calls, planned_forward_passes
from mimi.analysis.profile import interaction_profile
from mimi.attacks import AttackResult, pgd
from mimi.attacks.landing import DEFAULT_TOLERANCE
from mimi.core.games import ImageGame
from mimi.core.progress import ProgressFn
from mimi.interactions import replicate_seed

GAME_FIELDS = ("grid", "baseline", "value")


@dataclass(frozen=True)
class Request:
    """The settings of one computation: the game's (grid, baseline, value function) and the computation's own."""

    computation: ClassVar[str] = ""
    #: Fields the planner (:func:`~mimi.analysis.planned_forward_passes`) does not take.
    unplanned: ClassVar[tuple[str, ...]] = ()
    grid: str = "7x7"
    baseline: str = "mean"
    value: str = "log-odds"

    def options(self) -> dict[str, Any]:
        """The computation's own keyword arguments (every field but the game's)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in GAME_FIELDS}

    def plan(self, image_shape: Sequence[int], images: int) -> dict[str, Any]:
        """The planner's keyword arguments for this request on ``images`` images of ``image_shape`` (…, H, W)."""
        planned = {k: v for k, v in self.options().items() if k not in self.unplanned}
        return dict(planned, grid=self.grid, image_shape=tuple(int(s) for s in image_shape[-2:]), images=int(images))

    def planned_passes(self, image_shape: Sequence[int], images: int) -> int:
        """Forward passes a run will make (:func:`~mimi.analysis.planned_forward_passes`)."""
        return planned_forward_passes(self.computation, **self.plan(image_shape, images))

    def planned_calls(self, image_shape: Sequence[int], images: int) -> list[int]:
        """The mask rows of each game call a run will make (:func:`~mimi.analysis.planning.planned_calls`; profile,
        Shapley map and D^(m)), for a time estimate that counts calls as well as rows."""
        return planned_calls(self.computation, **self.plan(image_shape, images))


@dataclass(frozen=True)
class ImageRequest(Request):
    """A computation on one image game: x, and x' on the same masks when given."""

    def game(self, model: nn.Module, image: Image, label: Optional[int], adv_image: Optional[Image] = None, *,
             device=None, progress: Optional[ProgressFn] = None) -> ImageGame:
        """The image game of this request's grid, baseline and value function."""
        return image_game(model, image, label, adv_image, grid=self.grid, baseline=self.baseline, value=self.value,
                          device=device, progress=progress)

    def run(self, game: ImageGame):
        raise NotImplementedError


@dataclass(frozen=True)
class OrderRequest(Request):
    """What the order profile and D^(m) share: the orders (``ratios``, or ``orders``), ``pair_count`` pairs drawn
    from the ``pairs`` set (None: all), ``samples`` units per pair and order of ``contexts`` contexts each (None: a
    whole design), the designs' ``coverage`` and the ``seed``."""

    ratios: Optional[tuple[float, ...]] = None
    orders: Optional[tuple[int, ...]] = None
    pairs: str = "neighbors"
    pair_count: Optional[int] = DEFAULTS["pair_count"]
    samples: int = DEFAULTS["samples"]
    contexts: Optional[int] = DEFAULTS["contexts"]
    coverage: int = DEFAULTS["coverage"]
    seed: int = 0


@dataclass(frozen=True)
class ProfileRequest(OrderRequest, ImageRequest):
    """:func:`~mimi.analysis.interaction_profile`: Ī^(m) (and ΔJ^(m)) of replicate ``replicate`` of ``seed``; with
    ``singletons`` the n passes of v({i}) that split the attacking utility into cells and pairs."""

    computation: ClassVar[str] = "profile"
    unplanned: ClassVar[tuple[str, ...]] = ("replicate",)
    singletons: bool = True
    replicate: int = 0

    def plan(self, image_shape: Sequence[int], images: int) -> dict[str, Any]:
        """A replicate's seed is drawn from (seed, replicate): the planner is given that seed."""
        planned = super().plan(image_shape, images)
        return dict(planned, seed=replicate_seed(self.seed, self.replicate))

    def run(self, game: ImageGame):
        return interaction_profile(game, **self.options())


@dataclass(frozen=True)
class HeatmapRequest(ImageRequest):
    """:func:`~mimi.analysis.pair_heatmap`: I^(m)(cell, j) for every cell j at ``ratios``, ``samples`` units per
    order."""

    computation: ClassVar[str] = "heatmap"
    cell: int = 0
    ratios: tuple[float, ...] = DEFAULTS["heatmap_ratios"]
    samples: int = DEFAULTS["heatmap_samples"]
    coverage: int = DEFAULTS["coverage"]
    seed: int = 0

    def run(self, game: ImageGame):
        return pair_heatmap(game, **self.options())


@dataclass(frozen=True)
class ShapleyRequest(ImageRequest):
    """:func:`~mimi.analysis.shapley_map`: φ(i) of every cell from ``samples`` antithetic permutation pairs."""

    computation: ClassVar[str] = "shapley"
    samples: int = DEFAULTS["shapley_samples"]
    seed: int = 0

    def run(self, game: ImageGame):
        return shapley_map(game, **self.options())


@dataclass(frozen=True)
class DecompositionRequest(ImageRequest):
    """:func:`~mimi.analysis.decomposition`: the exact split of v(N) − v(∅) over all 2^n coalitions."""

    computation: ClassVar[str] = "decomposition"

    def run(self, game: ImageGame):
        return decomposition(game)


@dataclass(frozen=True)
class DisentanglementRequest(OrderRequest):
    """:func:`~mimi.analysis.disentanglement`: D^(m) over B images, each its own game with its own ``pair_count``
    pairs and ``samples`` units per order, seeded from (``seed``, b)."""

    computation: ClassVar[str] = "disentanglement"
    pair_count: Optional[int] = DEFAULTS["disentanglement_pair_count"]
    samples: int = DEFAULTS["disentanglement_samples"]

    def run(self, model: nn.Module, images: Image, labels: Sequence[int], *, device=None,
            progress: Optional[ProgressFn] = None):
        """D^(m) of ``model`` over ``images`` (B, C, H, W) of classes ``labels``."""
        return disentanglement(model, images, labels, device=device, progress=progress, grid=self.grid,
                               baseline=self.baseline, value=self.value, **self.options())


@dataclass(frozen=True)
class AttackRequest:
    """:func:`mimi.attacks.pgd` on one image: every keyword of the attack (equal strength when ``stop_utility`` is
    set). Its cost is ``steps × restarts`` gradient steps, not planned forward passes."""

    eps: float = DEFAULTS["eps"]
    steps: int = DEFAULTS["steps"]
    step_size: Optional[float] = None
    norm: str = DEFAULTS["norm"]
    restarts: int = 1
    targeted: Optional[int] = None
    stop_utility: Optional[float] = DEFAULTS["stop_utility"]
    tolerance: float = DEFAULT_TOLERANCE
    stop_rule: str = "utility"
    random_start: bool = True
    early_stop: bool = False
    value: str = "log-odds"
    seed: int = 0

    def options(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def run(self, model: nn.Module, image: torch.Tensor, label: int, *, top_k: int = 5) -> AttackResult:
        """PGD on ``image`` (C, H, W), already on the model's device, of true class ``label``."""
        return pgd(model, image[None], [int(label)], top_k=top_k, **self.options())
