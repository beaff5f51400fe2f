"""AttackResult: what an attack did to each sample of a batch (shared by the UI, the CLI and exports)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Optional, Sequence

import numpy as np
import torch

from mimi.core.results import Result


def _fraction(flags: torch.Tensor) -> float:
    """The mean of a (B,) bool tensor as a Python float (0 for an empty batch)."""
    return float(flags.float().mean()) if len(flags) else 0.0


@dataclass
class AttackResult(Result):
    """Per-sample outcome of an attack on a batch of B images: torch tensors on the attacked batch's
    device (JSON round-trip; read back, and given as numpy arrays, they are CPU tensors).

    - ``success``: untargeted, adv_pred != label; targeted, adv_pred == target; in the
      stop-at-utility mode, landed: ``stop_drop`` in [U, U + tol] (``params``: ``stop_utility``,
      ``tolerance``, ``stop_rule``; rule "paper" also needs adv_pred != label). ``fooled`` is always
      adv_pred != label.
    - ``stop_drop``: in that mode, the drop the stop rule measures: v(x) - v(x_adv) (rule "utility", the
      same as ``utility``) or the true class's logit drop (rule "paper"); else None.
    - ``utility``: the attacking utility Δv(N) = v(x) - v(x_adv) of the true class, with the
      interaction engine's value function ``value`` (``clean_value`` - ``adv_value``).
    - ``clean_topk``/``adv_topk``: the k most probable classes, most probable first, with their
      softmax probabilities in ``*_topk_prob``.
    - ``steps_used``: gradient steps from the start point to the returned iterate.
    - ``params``: the attack and its settings, enough to rerun it.

    Images for numpy or PIL leave at that edge: ``result.x_adv[0].cpu().numpy()``.
    """

    x_adv: torch.Tensor            # (B, C, H, W) in [0, 1], x's dtype
    perturbation: torch.Tensor     # (B, C, H, W): x_adv - x
    labels: torch.Tensor           # (B,) long, true classes
    success: torch.Tensor          # (B,) bool
    clean_pred: torch.Tensor       # (B,) long, argmax on x
    adv_pred: torch.Tensor         # (B,) long, argmax on x_adv
    clean_topk: torch.Tensor       # (B, k) long class indices, most confident first
    clean_topk_prob: torch.Tensor  # (B, k) softmax probabilities
    adv_topk: torch.Tensor         # (B, k)
    adv_topk_prob: torch.Tensor    # (B, k)
    utility: torch.Tensor          # (B,) v(x) - v(x_adv), true class
    steps_used: torch.Tensor       # (B,) long
    linf_norm: torch.Tensor        # (B,) max |x_adv - x|
    l2_norm: torch.Tensor          # (B,) ||x_adv - x||_2
    params: dict[str, Any] = field(default_factory=dict)
    clean_value: Optional[torch.Tensor] = None  # (B,) v(x), true class
    adv_value: Optional[torch.Tensor] = None    # (B,) v(x_adv), true class
    targets: Optional[torch.Tensor] = None      # (B,) long target classes of a targeted attack, else None
    value: str = "log-odds"                     # the value function of utility, clean_value, adv_value
    stop_drop: Optional[torch.Tensor] = None    # (B,) the stop rule's drop, stop-at-utility mode only

    def __post_init__(self) -> None:
        """numpy arrays (JSON files, older callers) become CPU tensors of the same dtype."""
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                setattr(self, f.name, torch.tensor(value))

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def clean_images(self) -> torch.Tensor:
        """x = x_adv - perturbation."""
        return self.x_adv - self.perturbation

    @property
    def success_rate(self) -> float:
        return _fraction(self.success)

    @property
    def fooled(self) -> torch.Tensor:
        """(B,) bool: the adversarial prediction differs from the label (whatever the attack's goal)."""
        return self.adv_pred != self.labels

    @property
    def clean_accuracy(self) -> float:
        return _fraction(self.clean_pred == self.labels)

    @property
    def robust_accuracy(self) -> float:
        """Fraction of samples still classified correctly after the attack."""
        return _fraction(self.adv_pred == self.labels)

    def amplified_perturbation(self, gain: Optional[float] = None) -> torch.Tensor:
        """The perturbation as a viewable image in [0, 1]: 0.5 + 0.5 * gain * delta (float32).

        By default gain = 1 / max|delta| per sample, so the largest change is black or white
        and no change is mid-grey (an all-zero perturbation stays grey).
        """
        delta = self.perturbation.float()
        if gain is None:
            peak = delta.abs().flatten(1).amax(1)
            gain = 1.0 / peak.masked_fill(peak == 0, 1.0).view(-1, *[1] * (delta.ndim - 1))
        return (0.5 + 0.5 * gain * delta).clamp(0.0, 1.0)

    def select(self, indices: int | Sequence[int] | np.ndarray | torch.Tensor) -> "AttackResult":
        """The samples ``indices`` (an int keeps a batch of one; a bool mask works too) as a new AttackResult."""
        index = torch.as_tensor(indices).reshape(-1)
        kept = {}
        for f in fields(self):
            value = getattr(self, f.name)
            kept[f.name] = value[index.to(value.device)] if isinstance(value, torch.Tensor) else value
        if kept["targets"] is not None:
            kept["params"] = {**self.params, "targeted": kept["targets"].tolist()}
        return AttackResult(**kept)
