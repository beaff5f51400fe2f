"""What every single-image computation of the image API records: where it began (:class:`_Start`: the clock and
the game's counters, so that a computation on a shared game counts only its own forward passes), the
:class:`~mimi.analysis.results.ImageResult` fields (labels, predictions, cost) and an estimate laid out as a
clean / adversarial / clean - adversarial :class:`~mimi.analysis.results.Contrast`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from mimi.analysis.results import Contrast, Estimated
from mimi.core.games import ImageGame
from mimi.interactions import Estimate


@dataclass(frozen=True)
class _Start:
    """Where a computation on a (possibly shared) game began: the clock and the game's counters."""

    time: float
    forward_passes: int
    mask_rows: int

    @classmethod
    def of(cls, game: ImageGame) -> "_Start":
        return cls(time.perf_counter(), game.forward_passes, game.mask_rows)


def _image_fields(game: ImageGame, start: _Start, units: int) -> dict:
    """:class:`ImageResult`'s fields: the label, target and predicted classes of x (and x'), and the cost of
    the computation since ``start``."""
    predictions = game.predictions[0]
    return dict(label=game.label, target=int(game.targets[0]), prediction=int(predictions[0]),
                adv_prediction=int(predictions[1]) if game.count == 2 else None,
                forward_passes=game.forward_passes - start.forward_passes,
                mask_rows=game.mask_rows - start.mask_rows, units=units, wall_time_s=time.perf_counter() - start.time)


def _contrast(est: Estimate, paired: bool, shape: Callable[[np.ndarray], np.ndarray] = np.asarray) -> Contrast:
    """Clean, adversarial and clean - adversarial of an estimate from a game with a trailing G axis (one game
    without x'), each mean and SE laid out by ``shape``."""
    sides = (est.game(0), est.game(1), est.difference(0, 1)) if paired else (est,)
    return Contrast(*(Estimated(shape(side.mean), shape(side.se)) for side in sides))
