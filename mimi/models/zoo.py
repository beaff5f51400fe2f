"""The model zoo: weights (state dicts) plus a JSON model card each, in ``assets/zoo``.

``names()`` lists the models, ``load(name) -> (model, card)`` builds the architecture named
by the card, loads its weights with ``weights_only=True`` and returns it frozen (eval mode,
no parameter gradients), so one instance can be shared by every session. The models a user
registers (:mod:`mimi.models.registry`) share this namespace: ``names()``, ``card(name)`` and
``load(name)`` see them too.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mimi.core.compute import freeze
from mimi.data.datasets import DatasetMissing, load_fashion_mnist, load_gallery
from mimi.models import registry
from mimi.models.cards import ZOO_DIR, shipped_names
from mimi.models.networks import build

#: Models A and B of the dashboard, in order of preference.
PREFERRED_MODELS = ("fmnist-standard", "fmnist-pgd-at", "fmnist-trades")


class UnknownModel(ValueError):
    """No model card of that name; the message lists the valid names."""


class CorruptWeights(ValueError):
    """A weight file is missing, truncated or does not match its card; the message names the file."""


def names(zoo_dir: Path = ZOO_DIR, registered: bool = True) -> list[str]:
    """The zoo's models (sorted), then the registered ones (:mod:`mimi.models.registry`) whose names it lacks."""
    shipped = shipped_names(zoo_dir)
    if not registered:
        return shipped
    return shipped + [name for name in registry.names() if name not in shipped]


def _registered(name: str, zoo_dir: Path) -> bool:
    """Whether ``name`` is a registered model (the zoo's cards win on a clash)."""
    return not (Path(zoo_dir) / f"{name}.json").exists() and name in registry.names()


def card(name: str, zoo_dir: Path = ZOO_DIR) -> dict[str, Any]:
    path = Path(zoo_dir) / f"{name}.json"
    if path.exists():
        return json.loads(path.read_text())
    if _registered(name, zoo_dir):
        return registry.card(name)
    broken = registry.problem()
    raise UnknownModel(f"unknown model {name!r}; the zoo has: {', '.join(names(zoo_dir)) or '(nothing)'}"
                       + (f" (the registry is unreadable: {broken})" if broken else ""))


def load(name: str, device: str | torch.device = "cpu", zoo_dir: Path = ZOO_DIR) -> tuple[nn.Module, dict[str, Any]]:
    """Build model ``name`` from its card and weights, frozen, on ``device`` (a registered model through
    :func:`mimi.models.registry.load`)."""
    if _registered(name, zoo_dir):
        return registry.load(name, device)
    meta = card(name, zoo_dir)
    weights = Path(zoo_dir) / meta["weights"]
    model = build(meta["architecture"], **meta.get("arch_kwargs", {}))
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except FileNotFoundError as exc:
        raise CorruptWeights(f"weight file {weights} of model {name!r} is missing") from exc
    except Exception as exc:  # truncated zip, wrong tensors, pickled objects, ...
        raise CorruptWeights(f"weight file {weights} of model {name!r} is corrupted or does not match "
                             f"its card ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from exc
    return freeze(model.to(device)), meta


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def save(model: nn.Module, meta: dict[str, Any], zoo_dir: Path = ZOO_DIR) -> Path:
    """Write ``<name>.pt`` (a state dict) and ``<name>.json`` (the card, with size and hash)."""
    zoo_dir = Path(zoo_dir)
    zoo_dir.mkdir(parents=True, exist_ok=True)
    weights = zoo_dir / f"{meta['name']}.pt"
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, weights)
    meta = {**meta, "weights": weights.name, "sha256": sha256(weights),
            "parameters": sum(p.numel() for p in model.parameters())}
    write_card(meta, zoo_dir)
    return weights


def write_card(meta: dict[str, Any], zoo_dir: Path = ZOO_DIR) -> Path:
    path = Path(zoo_dir) / f"{meta['name']}.json"
    path.write_text(json.dumps(meta, indent=2) + "\n")
    return path


REFERENCE_SUBSET = 1000  # the first 1000 Fashion-MNIST test images


@torch.no_grad()
def reference_accuracies(model: nn.Module, data_dir: str | Path | None = None) -> dict[str, Any]:
    """Clean accuracy on the shipped gallery and, when the dataset is installed, on the first
    1000 test images: the numbers a card records so that any install can check its weights."""
    device = next(model.parameters()).device
    gallery_set = load_gallery()
    gallery_preds = model(gallery_set.images.to(device)).argmax(1).cpu()
    measured: dict[str, Any] = {"gallery_accuracy": int((gallery_preds == gallery_set.labels).sum()) / len(gallery_set)}
    try:
        subset = load_fashion_mnist("test", data_dir).subset(REFERENCE_SUBSET)
    except DatasetMissing:
        return measured
    preds = torch.cat([model(x.to(device)).argmax(1).cpu() for x in subset.images.split(500)])
    measured["test_subset_accuracy"] = int((preds == subset.labels).sum()) / len(subset)
    measured["test_subset"] = f"first {REFERENCE_SUBSET} test images"
    return measured


def default_models(available: list[str]) -> tuple[str | None, str | None]:
    """Models A and B among ``available``: fmnist-standard and fmnist-pgd-at when present (B falls back to
    fmnist-trades), else the first models."""
    chosen = [name for name in PREFERRED_MODELS if name in available]
    chosen += [name for name in available if name not in chosen]
    chosen += [None, None]
    return chosen[0], chosen[1]
