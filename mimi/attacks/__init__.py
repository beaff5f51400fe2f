"""Adversarial attacks: one attack per module, all returning one :class:`AttackResult`.

- :func:`pgd` / :func:`pgd_perturb`: projected gradient descent, L-inf and L2, targeted, restarts,
  per-sample early stop and the paper's stop-at-utility mode.
- :func:`fgsm` / :func:`fgsm_perturb`: one signed-gradient step; ``random_start=True`` is FGSM-RS.

``*_perturb`` work on tensors (training, evaluation); the others check their inputs and return
an :class:`AttackResult`. Inputs are in [0, 1], eps in pixel units, normalization inside the model.
"""

from mimi.attacks.base import NORMS
from mimi.attacks.fgsm import fgsm, fgsm_perturb
from mimi.attacks.pgd import pgd, pgd_perturb
from mimi.attacks.result import AttackResult

__all__ = ["NORMS", "pgd", "pgd_perturb", "fgsm", "fgsm_perturb", "AttackResult"]
