"""AttackResult: what an attack did to each sample of a batch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mimi.results import Result


@dataclass
class AttackResult(Result):
    """Per-sample outcome of an attack on a batch of B images.

    ``utility`` is the attacking utility v(x) - v(x_adv) of the true class, with the
    value function named in ``params['value']`` (the interaction engine's).
    """

    x_adv: np.ndarray            # (B, C, H, W) in [0, 1]
    perturbation: np.ndarray     # (B, C, H, W): x_adv - x
    labels: np.ndarray           # (B,) true classes
    success: np.ndarray          # (B,) bool: untargeted: misclassified; targeted: reached target
    clean_pred: np.ndarray       # (B,)
    adv_pred: np.ndarray         # (B,)
    clean_topk: np.ndarray       # (B, k) class indices, most confident first
    clean_topk_prob: np.ndarray  # (B, k) probabilities
    adv_topk: np.ndarray
    adv_topk_prob: np.ndarray
    utility: np.ndarray          # (B,) v(x) - v(x_adv)
    steps_used: np.ndarray       # (B,) gradient steps taken by the returned run
    linf_norm: np.ndarray        # (B,)
    l2_norm: np.ndarray          # (B,)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def success_rate(self) -> float:
        return float(np.mean(self.success)) if len(self.success) else 0.0
