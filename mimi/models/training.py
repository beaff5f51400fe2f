"""Training recipes of the zoo: standard, PGD adversarial training, TRADES and Cutout.

- ``standard``: minimize CE(f(x), y).
- ``pgd-at``:   minimize CE(f(x'), y), x' = PGD_{eps}(x) with random start (Madry et al. 2018).
- ``trades``:   minimize CE(f(x), y) + beta * KL(f(x) || f(x')), x' maximizing the KL (Zhang et al. 2019).
- ``cutout``:   standard training on images with one random square set to 0 (DeVries & Taylor 2017).
- ``dropout``:  standard training of a model built with dropout (``TrainConfig.dropout``, Srivastava
  et al. 2014); the loss is the standard one, dropout acts through the model's training mode.
Every recipe also flips images horizontally with probability 1/2. Adam, cosine learning-rate
decay, a seeded generator per run, and a checkpoint after every epoch for resuming.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from mimi.attacks.base import ascent_direction, project
from mimi.attacks.pgd import pgd_perturb
from mimi.core.progress import ProgressFn, report
from mimi.data.datasets import ImageSet

RECIPES = ("standard", "pgd-at", "trades", "cutout", "dropout")


@dataclass
class TrainConfig:
    recipe: str = "standard"
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    eps: float = 0.1            # pgd-at and trades
    attack_steps: int = 7       # pgd-at and trades
    attack_step_size: float = 0.025
    beta: float = 6.0           # trades
    cutout_size: int = 12       # cutout, in pixels
    dropout: float = 0.0        # dropout: the model's dropout probability
    flip: bool = True
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.recipe not in RECIPES:
            raise ValueError(f"unknown recipe {self.recipe!r}; choose one of {', '.join(RECIPES)}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be >= 1")


def cutout(x: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """Zero one size x size square per image, its centre uniform over the image (clipped at borders)."""
    b, _, h, w = x.shape
    cy = torch.randint(0, h, (b,), generator=generator, device=x.device)
    cx = torch.randint(0, w, (b,), generator=generator, device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    top, left = (cy - size // 2).view(-1, 1, 1), (cx - size // 2).view(-1, 1, 1)
    inside = (rows >= top) & (rows < top + size) & (cols >= left) & (cols < left + size)
    return x * (~inside).unsqueeze(1)


def trades_adversary(model: nn.Module, x: torch.Tensor, eps: float, steps: int, step_size: float,
                     generator: torch.Generator) -> torch.Tensor:
    """x' = argmax_{||x'-x||_inf <= eps} KL(f(x) || f(x')), from x + 0.001 * N(0, I)."""
    with torch.no_grad():
        p_clean = F.softmax(model(x), dim=1)
    delta = 0.001 * torch.randn(x.shape, generator=generator, device=x.device)
    for _ in range(steps):
        delta.requires_grad_(True)
        kl = F.kl_div(F.log_softmax(model(x + delta), dim=1), p_clean, reduction="sum")
        (grad,) = torch.autograd.grad(kl, delta)
        delta = project(delta.detach() + step_size * ascent_direction(grad, "linf"), x, eps, "linf")
    return (x + delta).detach()


def recipe_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig,
                generator: torch.Generator) -> torch.Tensor:
    if cfg.recipe == "cutout":
        x = cutout(x, cfg.cutout_size, generator)
    if cfg.recipe == "pgd-at":
        x, _ = pgd_perturb(model, x, y, eps=cfg.eps, steps=cfg.attack_steps, step_size=cfg.attack_step_size,
                           generator=generator)
    if cfg.recipe == "trades":
        x_adv = trades_adversary(model, x, cfg.eps, cfg.attack_steps, cfg.attack_step_size, generator)
        logits = model(x)
        kl = F.kl_div(F.log_softmax(model(x_adv), dim=1), F.softmax(logits, dim=1), reduction="batchmean")
        return F.cross_entropy(logits, y) + cfg.beta * kl
    return F.cross_entropy(model(x), y)


def train(model: nn.Module, data: ImageSet, cfg: TrainConfig, checkpoint: Optional[Path] = None,
          progress: Optional[ProgressFn] = None, device: str | torch.device = "cpu") -> dict:
    """Train ``model`` in place with recipe ``cfg``; resumes from ``checkpoint`` if it exists.

    Returns a record with the config, epochs done, wall time and machine.
    """
    device = torch.device(device)
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    batches = (len(data) + cfg.batch_size - 1) // cfg.batch_size
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=cfg.lr, total_steps=cfg.epochs * batches, pct_start=0.15)
    generator = torch.Generator(device=device).manual_seed(cfg.seed)
    order_gen = torch.Generator().manual_seed(cfg.seed)
    start_epoch, wall = 0, 0.0
    if checkpoint is not None and Path(checkpoint).exists():
        state = torch.load(checkpoint, map_location=device, weights_only=True)
        if state["config"] != asdict(cfg):
            raise ValueError(f"checkpoint {checkpoint} was made with another config; remove it or match it")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"].to(generator.get_state().device))
        order_gen.set_state(state["order_generator"])
        start_epoch, wall = state["epoch"], state["wall_time_s"]
    images, labels = data.images, data.labels
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(len(data), generator=order_gen)
        total_loss = 0.0
        for b in range(batches):
            idx = perm[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            x, y = images[idx].to(device), labels[idx].to(device)
            if cfg.flip:
                flip = torch.rand(len(x), generator=generator, device=device) < 0.5
                x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
            loss = recipe_loss(model, x, y, cfg, generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total_loss += float(loss.detach()) * len(x)
            report(progress, epoch * batches + b + 1, cfg.epochs * batches,
                   f"epoch {epoch + 1}/{cfg.epochs} loss {total_loss / min((b + 1) * cfg.batch_size, len(data)):.3f}")
        wall += time.perf_counter() - t0
        if checkpoint is not None:
            Path(checkpoint).parent.mkdir(parents=True, exist_ok=True)
            torch.save({"config": asdict(cfg), "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "generator": generator.get_state(),
                        "order_generator": order_gen.get_state(), "epoch": epoch + 1, "wall_time_s": wall},
                       checkpoint)
    model.eval()
    return {"config": asdict(cfg), "epochs": cfg.epochs, "wall_time_s": round(wall, 1),
            "machine": machine_description(device)}


def machine_description(device: torch.device | str = "cpu") -> str:
    device = torch.device(device)
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    return f"{platform.machine()} CPU, {os.cpu_count()} cores, {torch.get_num_threads()} threads, torch {torch.__version__}"
