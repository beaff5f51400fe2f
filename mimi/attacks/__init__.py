"""Adversarial attacks: one attack per module, one :class:`AttackResult`."""

from mimi.attacks.pgd import pgd, pgd_perturb
from mimi.attacks.result import AttackResult

__all__ = ["pgd", "pgd_perturb", "AttackResult"]
