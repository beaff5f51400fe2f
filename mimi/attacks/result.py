"""AttackResult: what an attack did to each sample of a batch (shared by the UI, the CLI and exports)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Optional, Sequence

import numpy as np

from mimi.results import Result


@dataclass
class AttackResult(Result):
    """Per-sample outcome of an attack on a batch of B images (numpy arrays, JSON round-trip).

    - ``success``: untargeted, adv_pred != label; targeted, adv_pred == target; in the
      stop-at-utility mode, utility >= ``params['stop_utility']``.
    - ``utility``: the attacking utility Δv(N) = v(x) - v(x_adv) of the true class, with the
      interaction engine's value function ``value`` (``clean_value`` - ``adv_value``).
    - ``clean_topk``/``adv_topk``: the k most probable classes, most probable first, with their
      softmax probabilities in ``*_topk_prob``.
    - ``steps_used``: gradient steps from the start point to the returned iterate.
    - ``params``: the attack and its settings, enough to rerun it.
    """

    x_adv: np.ndarray            # (B, C, H, W) in [0, 1]
    perturbation: np.ndarray     # (B, C, H, W): x_adv - x
    labels: np.ndarray           # (B,) true classes
    success: np.ndarray          # (B,) bool
    clean_pred: np.ndarray       # (B,) argmax on x
    adv_pred: np.ndarray         # (B,) argmax on x_adv
    clean_topk: np.ndarray       # (B, k) class indices, most confident first
    clean_topk_prob: np.ndarray  # (B, k) softmax probabilities
    adv_topk: np.ndarray         # (B, k)
    adv_topk_prob: np.ndarray    # (B, k)
    utility: np.ndarray          # (B,) v(x) - v(x_adv), true class
    steps_used: np.ndarray       # (B,) int
    linf_norm: np.ndarray        # (B,) max |x_adv - x|
    l2_norm: np.ndarray          # (B,) ||x_adv - x||_2
    params: dict[str, Any] = field(default_factory=dict)
    clean_value: Optional[np.ndarray] = None  # (B,) v(x), true class
    adv_value: Optional[np.ndarray] = None    # (B,) v(x_adv), true class
    targets: Optional[np.ndarray] = None      # (B,) target classes of a targeted attack, else None
    value: str = "log-odds"                   # the value function of utility, clean_value, adv_value

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def clean_images(self) -> np.ndarray:
        """x = x_adv - perturbation."""
        return self.x_adv - self.perturbation

    @property
    def success_rate(self) -> float:
        return float(np.mean(self.success)) if len(self) else 0.0

    @property
    def fooled(self) -> np.ndarray:
        """(B,) bool: the adversarial prediction differs from the label (whatever the attack's goal)."""
        return self.adv_pred != self.labels

    @property
    def clean_accuracy(self) -> float:
        return float(np.mean(self.clean_pred == self.labels)) if len(self) else 0.0

    @property
    def robust_accuracy(self) -> float:
        """Fraction of samples still classified correctly after the attack."""
        return float(np.mean(self.adv_pred == self.labels)) if len(self) else 0.0

    def amplified_perturbation(self, gain: Optional[float] = None) -> np.ndarray:
        """The perturbation as a viewable image in [0, 1]: 0.5 + 0.5 * gain * delta.

        By default gain = 1 / max|delta| per sample, so the largest change is black or white
        and no change is mid-grey (an all-zero perturbation stays grey).
        """
        delta = self.perturbation.astype(np.float32)
        if gain is None:
            peak = np.abs(delta).reshape(len(delta), -1).max(axis=1)
            gain = 1.0 / np.where(peak > 0, peak, 1.0).reshape(-1, *[1] * (delta.ndim - 1))
        return np.clip(0.5 + 0.5 * gain * delta, 0.0, 1.0)

    def select(self, indices: int | Sequence[int] | np.ndarray) -> "AttackResult":
        """The samples ``indices`` (an int keeps a batch of one) as a new AttackResult."""
        index = np.atleast_1d(np.asarray(indices))
        kept = {}
        for f in fields(self):
            value = getattr(self, f.name)
            kept[f.name] = value[index] if isinstance(value, np.ndarray) else value
        if self.targets is not None:
            kept["params"] = {**self.params, "targeted": self.targets[index].tolist()}
        return AttackResult(**kept)
