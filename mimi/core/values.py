"""Value functions v(S): one scalar network output per masked input for a target class.

- ``log-odds``    v = log p(y|x) / (1 - p(y|x))   (the paper's formula, the default)
- ``log-softmax`` v = log p(y|x)                   (the paper's released code)
- ``logit``       v = z_y                          (the raw logit)
"""

from __future__ import annotations

import torch

VALUE_FUNCTIONS = ("log-odds", "log-softmax", "logit")


def check_value_function(kind: str) -> str:
    if kind not in VALUE_FUNCTIONS:
        raise ValueError(f"unknown value function {kind!r}; choose one of {', '.join(VALUE_FUNCTIONS)}")
    return kind


def class_value(logits: torch.Tensor, target: torch.Tensor, kind: str = "log-odds") -> torch.Tensor:
    """Per-row value of class ``target`` from ``logits`` (B, C); ``target`` is (B,) or a scalar."""
    check_value_function(kind)
    target = torch.as_tensor(target, device=logits.device).long().expand(logits.shape[0])
    picked = target[:, None]
    if kind == "logit":
        return logits.gather(1, picked).squeeze(1)
    log_p = torch.log_softmax(logits.float(), dim=1)
    log_p_target = log_p.gather(1, picked).squeeze(1)
    if kind == "log-softmax":
        return log_p_target
    # log(1 - p_y) = logsumexp over the other classes of log p_c: stable for p_y -> 1.
    others = log_p.scatter(1, picked, float("-inf")).logsumexp(dim=1)
    return log_p_target - others
